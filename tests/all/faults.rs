//! Randomized server behaviours for the replay server, and the checks made after each call
//! through the real component (tests/all/chaos.rs runs them one after another; the soak in
//! tests/all/soak.rs runs them among many plain calls, from several clients at once). A
//! fixed-seed generator scripts statuses, headers, error bodies echoing the key, whole
//! answers (some corrupt), and streams split at random bytes, delayed, cut, or left without
//! an end, with the key spread across deltas and tool-call fragments. After every call: no
//! key in anything returned; a finished stream's record equals what its events delivered; a
//! failed one keeps a partial that starts with what was delivered and is a prefix of what was
//! sent; never an `internal` error.

use crate::support::*;
use aios_llm_core::routing::rng::Rng as Xorshift;
use bytes::Bytes;
use llm_core_host::types::*;
use replay_server::{Reply, replies};
use serde_json::json;
use std::sync::OnceLock;
use std::time::Duration;

pub const KEY: &str = "sk-chaos-key-0123456789abcdef";
const MARK: &str = "[redacted]";

/// The routing generator (xorshift64*): the same behaviours for the same seed on every machine.
pub struct Rng(Xorshift);

impl Rng {
    /// The generator for `seed`: the same behaviours for the same seed on every machine.
    pub fn new(seed: u64) -> Rng {
        Rng(Xorshift::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
    }

    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// A piece of text: words, multi-byte characters, and the key whole or in parts.
    fn text(&mut self) -> String {
        let cut = 1 + self.below(KEY.len() - 1);
        match self.below(9) {
            0 => KEY.to_string(),
            1 => KEY[..cut].to_string(),
            2 => KEY[cut..].to_string(),
            3 => "wörld 🦀".into(),
            4 => "\n".into(),
            5 => " ".into(),
            _ => "Hello".into(),
        }
    }
}

/// What a call must end in, beyond the invariants every call keeps.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// Success or any typed error but `internal` (the randomized faults).
    Any,
    /// Success with what was sent.
    Success,
    /// This error.
    Error(ErrorCode),
}

/// One scripted behaviour and what it sent.
pub struct Script {
    pub reply: Reply,
    pub stream: bool,
    /// Content and tool-call arguments as sent (unredacted).
    content: String,
    arguments: String,
    /// Whether the answer was sent whole and well-formed.
    clean: bool,
    pub expect: Expect,
}

fn error_reply(rng: &mut Rng) -> Script {
    let status = [400, 401, 404, 413, 429, 500, 502, 503][rng.below(8)];
    let message = format!("bad key {KEY}: {}", rng.text());
    let body = match rng.below(3) {
        0 => replies::error_body(status, &message),
        1 => replies::flat_error_body(status, &message),
        _ => format!("<html>{message}</html>"),
    };
    let wait = rng.below(3).to_string();
    let reply = Reply::with_headers(status, &[("retry-after", &wait), ("x-echo", KEY)], body);
    Script {
        reply,
        stream: rng.chance(50),
        content: String::new(),
        arguments: String::new(),
        clean: false,
        expect: Expect::Any,
    }
}

fn whole_reply(rng: &mut Rng) -> Script {
    let content: String = (0..rng.below(6)).map(|_| rng.text()).collect();
    let mut body =
        replies::completion_body(json!({"role": "assistant", "content": content}), "stop");
    let clean = !rng.chance(20);
    if !clean {
        let mut at = rng.below(body.len());
        while !body.is_char_boundary(at) {
            at -= 1;
        }
        body.truncate(at);
    }
    Script {
        reply: Reply::json(body),
        stream: false,
        content,
        arguments: String::new(),
        clean,
        expect: Expect::Any,
    }
}

fn stream_reply(rng: &mut Rng) -> Script {
    let (mut content, mut arguments, mut events) = (String::new(), String::new(), Vec::new());
    let mut clean = true;
    for _ in 0..1 + rng.below(8) {
        let text = rng.text();
        if rng.chance(25) {
            let call = json!({"index": 0, "id": "call_1", "type": "function",
                              "function": {"name": "get", "arguments": text}});
            events.push(replies::chunk(json!({"tool_calls": [call]}), None));
            arguments.push_str(&text);
        } else {
            events.push(replies::content_chunk(&text));
            content.push_str(&text);
        }
        if rng.chance(3) {
            events.push("{not json".into());
            clean = false;
            break;
        }
    }
    if clean && rng.chance(90) {
        let reason = if arguments.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        events.push(replies::finish_chunk(reason));
        events.push("[DONE]".into());
    } else {
        clean = false;
    }
    let body: Vec<u8> = events
        .iter()
        .flat_map(|e| replies::event(e).into_bytes())
        .collect();
    let mut cuts: Vec<usize> = (0..rng.below(6))
        .map(|_| rng.below(body.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut parts = Vec::new();
    let mut from = 0;
    for c in cuts.into_iter().chain([body.len()]) {
        parts.push(body[from..c].to_vec());
        from = c;
    }
    let n = parts.len();
    let mut reply = Reply::sse_raw(parts).delayed(Duration::from_millis(rng.below(4) as u64));
    if rng.chance(15) {
        reply = reply.cut_after(rng.below(n));
        clean = false;
    }
    if rng.chance(3) {
        // Silence past the between-bytes timeout.
        reply = Reply::sse_raw([
            body[..body.len() / 2].to_vec(),
            body[body.len() / 2..].to_vec(),
        ])
        .delayed(Duration::from_millis(700));
        clean = false;
    }
    Script {
        reply,
        stream: true,
        content,
        arguments,
        clean,
        expect: Expect::Any,
    }
}

/// A well-formed answer of a few pieces of text (the key among them), whole or streamed at
/// event boundaries; a drip sends each event 15 ms after the last. Must succeed.
pub fn plain(rng: &mut Rng, stream: bool, drip: bool) -> Script {
    let pieces: Vec<String> = (0..1 + rng.below(6)).map(|_| rng.text()).collect();
    let content: String = pieces.concat();
    let reply = if stream {
        let mut events: Vec<String> = pieces.iter().map(|p| replies::content_chunk(p)).collect();
        events.push(replies::finish_chunk("stop"));
        events.push("[DONE]".into());
        let reply = Reply::sse_raw(events.iter().map(|e| replies::event(e).into_bytes()));
        if drip {
            reply.delayed(Duration::from_millis(15))
        } else {
            reply
        }
    } else {
        Reply::json(replies::completion_body(
            json!({"role": "assistant", "content": content}),
            "stop",
        ))
    };
    Script {
        reply,
        stream,
        content,
        arguments: String::new(),
        clean: true,
        expect: Expect::Success,
    }
}

/// An answer larger than the host's response cap (`OVERSIZED_CAP`): a 1 MiB body, or a
/// stream of 320 KiB of content in 1 KiB events. Must fail with `limit-exceeded`, a stream
/// keeping what it delivered.
pub fn oversized(stream: bool) -> Script {
    /// The stream's 320 events of 1 KiB of text, and that text, made once.
    static STREAM: OnceLock<(Vec<Bytes>, String)> = OnceLock::new();
    let (reply, content) = if stream {
        let (events, text) = STREAM.get_or_init(|| {
            let piece = "tick ".repeat(205);
            let event = Bytes::from(replies::event(&replies::content_chunk(&piece)));
            (vec![event; 320], piece.repeat(320))
        });
        (Reply::sse_raw(events.clone()), text.clone())
    } else {
        let body = Reply::Repeat {
            status: 200,
            content_type: "application/json".into(),
            head: Bytes::from_static(b"{\"choices\":[{\"message\":{\"content\":\""),
            part: Bytes::from_static(&[b' '; 64 * 1024]),
            count: Some(16),
            delay: Duration::ZERO,
        };
        (body, String::new())
    };
    Script {
        reply,
        stream,
        content,
        arguments: String::new(),
        clean: false,
        expect: Expect::Error(ErrorCode::LimitExceeded),
    }
}

/// The host response cap the oversized answers exceed.
pub const OVERSIZED_CAP: u64 = 256 << 10;

/// One of the randomized faults: an error status, a whole answer (a fifth cut short), or a
/// stream with faults.
pub fn script(rng: &mut Rng) -> Script {
    match rng.below(10) {
        0 | 1 => error_reply(rng),
        2 | 3 => whole_reply(rng),
        _ => stream_reply(rng),
    }
}

/// A client of the replay server at `base_url` with the key the faults echo, one attempt per
/// call (each call meets exactly its scripted reply), a 300 ms between-bytes timeout (the
/// silent streams) and a 5 s deadline.
pub fn client_config(base_url: &str) -> ClientConfig {
    let mut cfg = config(BackendKind::Vllm, base_url);
    cfg.backends[0].api_key = Some(KEY.into());
    cfg.retry.max_attempts = Some(1);
    cfg.timeouts.between_bytes_ms = Some(300);
    cfg.timeouts.total_ms = Some(5_000);
    cfg
}

fn request(id: Option<String>) -> ChatRequest {
    let mut r = ask("go");
    r.request_id = id;
    r.tools = vec![ToolDefinition {
        name: "get".into(),
        description: None,
        parameters: None,
    }];
    r.split_reasoning = Some(false);
    r.recover_tool_calls = Some(false);
    r
}

/// Text with the mark put back as the key: comparable with what was sent.
fn unredacted(text: &str) -> String {
    text.replace(MARK, KEY)
}

/// Runs one scripted call (sent with request id `id`, which the replay server may script
/// by) and checks it; `i` names it in failures. Returns the error code, if any.
pub async fn call(
    client: &llm_core_host::Client,
    s: &Script,
    id: Option<String>,
    i: &str,
) -> Option<ErrorCode> {
    use futures::StreamExt;
    let (mut shown, mut args) = (String::new(), String::new());
    let result = if s.stream {
        match client.chat_stream(request(id)).await {
            Err(e) => Err(e),
            Ok(mut stream) => loop {
                match stream
                    .next()
                    .await
                    .expect("a stream ends with done or an error")
                {
                    Ok(StreamEvent::Done(r)) => break Ok(r),
                    Ok(StreamEvent::Content(t)) => shown.push_str(&t),
                    Ok(StreamEvent::ToolCall(d)) => args.push_str(&d.arguments),
                    Ok(_) => {}
                    Err(e) => break Err(e),
                }
            },
        }
    } else {
        client.chat(request(id)).await
    };
    let all = format!("{shown}\n{args}\n{result:?}");
    assert!(!all.contains(KEY), "call {i} leaks the key: {all}");
    match (&s.expect, &result) {
        (Expect::Success, Err(e)) => panic!("call {i} failed: {e:?}"),
        (Expect::Error(code), Ok(r)) => panic!("call {i}: {r:?}, not {code:?}"),
        (Expect::Error(code), Err(e)) => assert_eq!(&e.code, code, "call {i}: {e:?}"),
        _ => {}
    }
    match result {
        Ok(r) => {
            // Whitespace-only content beside tool calls is dropped from the record.
            let calls = !(r.tool_calls.is_empty() && r.invalid_tool_calls.is_empty());
            let content = match r.content.clone() {
                None if calls && shown.trim().is_empty() => shown.clone(),
                c => c.unwrap_or_default(),
            };
            if s.stream {
                assert_eq!(
                    content, shown,
                    "call {i}: the record differs from the events"
                );
            }
            if s.clean && !(calls && s.content.trim().is_empty()) {
                assert_eq!(unredacted(&content), s.content, "call {i}");
                let sent: String = r.tool_calls.iter().map(|c| c.arguments.as_str()).collect();
                let invalid: String = r
                    .invalid_tool_calls
                    .iter()
                    .map(|c| c.raw_arguments.as_str())
                    .collect();
                assert_eq!(
                    unredacted(&format!("{sent}{invalid}")).is_empty(),
                    s.arguments.is_empty(),
                    "call {i}"
                );
            }
            None
        }
        Err(e) => {
            assert_ne!(e.code, ErrorCode::Internal, "call {i}: {e:?}");
            if let Some(p) = &e.partial {
                let partial = p.content.clone().unwrap_or_default();
                assert!(
                    partial.starts_with(shown.trim_end()),
                    "call {i}: partial {partial:?} lost delivered {shown:?}"
                );
                assert!(
                    s.content
                        .starts_with(unredacted(partial.trim_end()).as_str()),
                    "call {i}: partial {partial:?} of {:?}",
                    s.content
                );
            }
            Some(e.code)
        }
    }
}
