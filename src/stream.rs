//! Assembling a streamed chat: each SSE `data` payload (a chunk) becomes stream events, and
//! the chunks together become the same `RawAnswer` a non-streaming call yields, decoded by
//! the same `response::decode`. Nothing received is lost: on any failure the error carries
//! the partial response.

use crate::errors;
use crate::reasoning::{Piece, ThinkFilter};
use crate::response::{self, DecodeOptions, RawAnswer, Served, WireCompletion, WireMessage};
use crate::tool_calls::{IdSource, RawToolCall};
use crate::types::{ChatResponse, Error, ErrorCode, StreamEvent, ToolCallDelta};
use serde_json::Value;
use std::borrow::Cow;

/// Stream state: the answer so far, and filters that keep tags out of content deltas.
pub struct Assembler {
    opts: DecodeOptions,
    raw: RawAnswer,
    think: Option<ThinkFilter>,
    tool_text: Option<ToolTextHold>,
    /// Reused between deltas: pieces the think filter released.
    pieces: Vec<Piece>,
    done: bool,
    failed: Option<Error>,
}

impl Assembler {
    pub fn new(opts: DecodeOptions) -> Assembler {
        let think = opts.split_reasoning.then(ThinkFilter::default);
        let tool_text =
            (opts.recover_tool_calls && opts.names.offered()).then(ToolTextHold::default);
        Assembler {
            opts,
            raw: RawAnswer::default(),
            pieces: Vec::new(),
            think,
            tool_text,
            done: false,
            failed: None,
        }
    }

    pub fn options(&self) -> &DecodeOptions {
        &self.opts
    }

    /// True once `[DONE]` or an error event arrived: nothing more is expected.
    pub fn ended(&self) -> bool {
        self.done || self.failed.is_some()
    }

    /// Handles one SSE data payload, appending the events it yields.
    pub fn on_data(&mut self, data: &str, out: &mut Vec<StreamEvent>) {
        if self.ended() {
            return;
        }
        if data.trim() == "[DONE]" {
            self.done = true;
            return;
        }
        let chunk: WireCompletion = match serde_json::from_slice(data.as_bytes()) {
            Ok(c) => c,
            Err(e) => {
                self.failed = Some(Error {
                    body: Some(errors::kept_body(data.as_bytes())),
                    ..Error::malformed(format!(
                        "the stream sent an event that is not a chat chunk ({e})"
                    ))
                });
                return;
            }
        };
        if chunk.error.is_some() || chunk.object.as_deref() == Some("error") {
            self.failed = Some(stream_error(data, chunk.error.or(chunk.message)));
            return;
        }
        // Every chunk repeats them; keep the first (no copy per chunk).
        if self.raw.id.is_none() {
            self.raw.id = chunk.id.map(Cow::into_owned);
        }
        if self.raw.model.is_none() {
            self.raw.model = chunk.model.map(Cow::into_owned);
        }
        if let Some(u) = chunk.usage {
            self.raw.usage = Some(u.into_usage());
        }
        // One answer per request (`n` is never sent); other indices are ignored.
        for choice in chunk
            .choices
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.index.unwrap_or(0) == 0)
        {
            if let Some(delta) = choice.delta {
                self.on_delta(delta, out);
            }
            if let Some(reason) = choice.finish_reason {
                self.raw.finish_reason = Some(reason);
            }
        }
    }

    fn on_delta(&mut self, delta: WireMessage, out: &mut Vec<StreamEvent>) {
        // vLLM 0.10 sent the same text in both fields of one delta: count it once.
        let second = delta
            .reasoning_content
            .filter(|r| delta.reasoning.as_ref() != Some(r));
        for text in [delta.reasoning, second].into_iter().flatten() {
            if !text.is_empty() {
                self.raw
                    .reasoning
                    .get_or_insert_with(String::new)
                    .push_str(&text);
                out.push(StreamEvent::Reasoning(text));
            }
        }
        if let Some(text) = response::content_text(delta.content)
            && !text.is_empty()
        {
            self.raw
                .content
                .get_or_insert_with(String::new)
                .push_str(&text);
            let mut pieces = std::mem::take(&mut self.pieces);
            match &mut self.think {
                Some(f) => f.push(text, &mut |p| pieces.push(p)),
                None => pieces.push(Piece::Content(text)),
            }
            self.emit(&mut pieces, out);
            self.pieces = pieces;
        }
        for call in delta.tool_calls.unwrap_or_default() {
            let index = self.call_index(call.index, call.id.as_deref());
            let slot = &mut self.raw.tool_calls[index];
            let id = call.id.filter(|id| !id.is_empty());
            if slot.id.is_none() {
                slot.id.clone_from(&id);
            }
            let function = call.function;
            let name = function
                .as_ref()
                .and_then(|f| f.name.clone())
                .filter(|n| !n.is_empty());
            if slot.name.is_none() {
                slot.name.clone_from(&name);
            }
            // `arguments: null` mid-stream (vLLM#9693) is an empty fragment.
            let fragment = response::arguments_text(
                function.and_then(|f| f.arguments).filter(|a| !a.is_null()),
            )
            .unwrap_or_default();
            slot.arguments
                .get_or_insert_with(String::new)
                .push_str(&fragment);
            out.push(StreamEvent::ToolCall(ToolCallDelta {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                id,
                name: name.map(|n| self.opts.names.to_caller(&n)),
                arguments: fragment,
            }));
        }
    }

    /// Position of a streamed call: by `index`; without one, a new id starts a new call.
    fn call_index(&mut self, index: Option<u32>, id: Option<&str>) -> usize {
        let calls = &mut self.raw.tool_calls;
        let i = match index {
            Some(i) => i as usize,
            None => match (id.filter(|s| !s.is_empty()), calls.last()) {
                (Some(id), Some(last)) if last.id.as_deref() != Some(id) => calls.len(),
                (_, Some(_)) => calls.len() - 1,
                (_, None) => 0,
            },
        };
        // Indices come from the server: grow only by what is needed, and never absurdly.
        let i = i.min(calls.len().max(1).saturating_add(63));
        if calls.len() <= i {
            calls.resize_with(i + 1, RawToolCall::default);
        }
        i
    }

    fn emit(&mut self, pieces: &mut Vec<Piece>, out: &mut Vec<StreamEvent>) {
        for piece in pieces.drain(..) {
            match piece {
                Piece::Reasoning(r) => out.push(StreamEvent::Reasoning(r)),
                Piece::Content(c) => {
                    let released = match &mut self.tool_text {
                        Some(hold) => hold.push(&c),
                        None => c,
                    };
                    if !released.is_empty() {
                        out.push(StreamEvent::Content(released));
                    }
                }
            }
        }
    }

    /// The answer so far as a response record (no JSON check), for errors.
    pub fn partial(&self, served: &Served, ids: &mut dyn IdSource) -> ChatResponse {
        let opts = DecodeOptions {
            json: response::JsonExpectation::None,
            ..self.opts.clone()
        };
        match response::decode(self.raw.clone(), &opts, ids, served) {
            Ok(r) => r,
            Err(e) => e.partial.unwrap_or_else(|| unreachable_partial(served)),
        }
    }

    /// Ends the stream (input exhausted or cut). Flushes held text into `out` and returns the
    /// final response, or the error with the partial response.
    pub fn finish(
        &mut self,
        served: &Served,
        ids: &mut dyn IdSource,
        out: &mut Vec<StreamEvent>,
    ) -> Result<ChatResponse, Error> {
        let mut pieces = self
            .think
            .as_mut()
            .map(|f| {
                let mut held = Vec::new();
                f.finish(&mut |p| held.push(p));
                held
            })
            .unwrap_or_default();
        self.emit(&mut pieces, out);
        if let Some(failed) = self.failed.take() {
            self.flush_held(out);
            return Err(self.failure(failed, served, ids));
        }
        if !self.done && self.raw.finish_reason.is_none() {
            self.flush_held(out);
            let e = Error::new(
                ErrorCode::Truncated,
                "the stream ended before the server finished (no [DONE] and no finish reason)",
            );
            return Err(self.failure(e, served, ids));
        }
        let result = response::decode(self.raw.clone(), &self.opts, ids, served);
        let recovered = match &result {
            Ok(r) if self.raw.tool_calls.is_empty() && !r.tool_calls.is_empty() => Some(r),
            _ => None,
        };
        match (recovered, &mut self.tool_text) {
            (Some(r), Some(hold)) => {
                // The held text became calls: deliver them whole, plus any real text that
                // was held with them.
                hold.held.clear();
                for (i, c) in r.tool_calls.iter().enumerate() {
                    out.push(StreamEvent::ToolCall(ToolCallDelta {
                        index: u32::try_from(i).unwrap_or(u32::MAX),
                        id: Some(c.id.clone()),
                        name: Some(c.name.clone()),
                        arguments: c.arguments.clone(),
                    }));
                }
                let extra = r
                    .content
                    .as_deref()
                    .and_then(|c| c.strip_prefix(hold.released.trim()));
                if let Some(extra) = extra.filter(|e| !e.trim().is_empty()) {
                    out.push(StreamEvent::Content(extra.to_string()));
                }
            }
            _ => self.flush_held(out),
        }
        result
    }

    /// Wraps a failure with what arrived so far.
    pub fn failure(&self, error: Error, served: &Served, ids: &mut dyn IdSource) -> Error {
        let partial = self.partial(served, ids);
        Error {
            backend: Some(served.backend.to_string()),
            attempts: served.attempts,
            ..error
        }
        .with_partial(partial)
    }

    fn flush_held(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(hold) = &mut self.tool_text {
            let held = std::mem::take(&mut hold.held);
            if !held.is_empty() {
                out.push(StreamEvent::Content(held));
            }
        }
    }
}

fn unreachable_partial(served: &Served) -> ChatResponse {
    ChatResponse {
        id: None,
        content: None,
        reasoning: None,
        tool_calls: vec![],
        invalid_tool_calls: vec![],
        finish_reason: None,
        usage: None,
        model: served.requested_model.to_string(),
        backend: served.backend.to_string(),
        attempts: served.attempts,
    }
}

/// An error event after the 200: `data: {"error": {...}}` (vLLM) or a flat SGLang error.
fn stream_error(data: &str, detail: Option<Value>) -> Error {
    let status = detail
        .as_ref()
        .and_then(|d| d.get("code"))
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c));
    let mut e = errors::from_status(status.unwrap_or(500), data.as_bytes(), None, "the stream");
    e.message = format!("the server failed mid-stream: {}", e.message);
    e.status = status;
    e
}

/// Holds content back from deltas once it may be a text-format tool call, so markup does not
/// reach the caller as text when it will come back as calls. Released if it was not a call.
#[derive(Default)]
struct ToolTextHold {
    /// Content released so far.
    released: String,
    /// Content held since the first possible call marker.
    held: String,
}

/// Markers that start a text-format call anywhere in the answer.
const MARKERS: [&str; 3] = ["<tool_call>", "[TOOL_CALLS]", "<|python_tag|>"];

impl ToolTextHold {
    fn push(&mut self, text: &str) -> String {
        if !self.held.is_empty() {
            self.held.push_str(text);
            return String::new();
        }
        let mut candidate = String::with_capacity(text.len());
        candidate.push_str(text);
        // A bare JSON call (optionally fenced) is the whole answer: hold only when the answer
        // starts like one; a fence or brace later in an answer is the answer's own text.
        let at_start = self.released.trim().is_empty();
        let body = candidate.trim_start();
        let starts_like_json = body.starts_with(['{', '['])
            || body.starts_with("```")
            || (body.len() < 3 && "```".starts_with(body) && !body.is_empty());
        let cut = if at_start && starts_like_json {
            Some(candidate.len() - candidate.trim_start().len())
        } else {
            MARKERS
                .iter()
                .filter_map(|m| candidate.find(m))
                .min()
                .or_else(|| partial_marker(&candidate))
        };
        match cut {
            Some(i) => {
                self.held = candidate.split_off(i);
                self.released.push_str(&candidate);
                candidate
            }
            None => {
                self.released.push_str(&candidate);
                candidate
            }
        }
    }
}

/// Start of a suffix that could grow into a marker.
fn partial_marker(text: &str) -> Option<usize> {
    MARKERS
        .iter()
        .filter_map(|m| {
            (1..m.len())
                .rev()
                .find(|&n| {
                    text.len() >= n
                        && text.is_char_boundary(text.len() - n)
                        && m.starts_with(&text[text.len() - n..])
                })
                .map(|n| text.len() - n)
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::tests::{request, user, with_tool};
    use crate::sse::SseParser;
    use crate::tool_calls::CountingIds;
    use crate::types::*;

    use crate::response::tests::SERVED;

    /// The content deltas, joined.
    fn content(events: &[StreamEvent]) -> String {
        events
            .iter()
            .filter_map(|e| {
                if let StreamEvent::Content(c) = e {
                    Some(c.as_str())
                } else {
                    None
                }
            })
            .collect()
    }

    /// Runs a raw SSE body through parser + assembler in the given chunking.
    fn run(
        req: &ChatRequest,
        body: &[u8],
        chunks: &[usize],
    ) -> (Vec<StreamEvent>, Result<ChatResponse, Error>) {
        let mut a = Assembler::new(DecodeOptions::for_request(req));
        let mut p = SseParser::new();
        let mut events = Vec::new();
        let mut rest = body;
        for &n in chunks {
            let n = n.min(rest.len());
            p.push(&rest[..n], &mut |d| a.on_data(d, &mut events));
            rest = &rest[n..];
        }
        p.push(rest, &mut |d| a.on_data(d, &mut events));
        p.finish(&mut |d| a.on_data(d, &mut events));
        let result = a.finish(&SERVED, &mut CountingIds::default(), &mut events);
        (events, result)
    }

    fn sse(chunks: &[&str]) -> Vec<u8> {
        chunks
            .iter()
            .map(|c| format!("data: {c}\n\n"))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn text_with_usage_chunk() {
        let body = sse(&[
            r#"{"id":"c1","model":"m1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}"#,
            r#"{"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
            "[DONE]",
        ]);
        let (events, r) = run(&request(vec![user("x")]), &body, &[]);
        assert_eq!(
            events,
            vec![
                StreamEvent::Content("Hel".into()),
                StreamEvent::Content("lo".into())
            ]
        );
        let r = r.unwrap();
        assert_eq!(
            (r.content.as_deref(), r.model.as_str()),
            (Some("Hello"), "m1")
        );
        assert_eq!(r.usage.unwrap().total_tokens, 5);
        assert_eq!(r.finish_reason, Some(FinishReason::Stop));
    }

    fn tools_request() -> ChatRequest {
        with_tool("fs/read")
    }

    #[test]
    fn vllm_tool_deltas_with_empty_ids_and_sglang_repeated_ids() {
        let vllm = sse(&[
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"fs__read","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"","function":{"arguments":"{\"path\": "}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"fs__read","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"/x\"}"}}]},"finish_reason":"tool_calls"}]}"#,
            "[DONE]",
        ]);
        let (events, r) = run(&tools_request(), &vllm, &[]);
        let r = r.unwrap();
        assert_eq!(
            r.tool_calls,
            vec![
                ToolCall {
                    id: "call_a".into(),
                    name: "fs/read".into(),
                    arguments: "{\"path\": \"/x\"}".into()
                },
                ToolCall {
                    id: "call_b".into(),
                    name: "fs/read".into(),
                    arguments: "{}".into()
                },
            ]
        );
        assert_eq!(
            events[0],
            StreamEvent::ToolCall(ToolCallDelta {
                index: 0,
                id: Some("call_a".into()),
                name: Some("fs/read".into()),
                arguments: String::new()
            })
        );
        let sglang = sse(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"s1","function":{"name":"fs__read","arguments":"{\"pa"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"s1","function":{"arguments":"th\": 1}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            "[DONE]",
        ]);
        let r = run(&tools_request(), &sglang, &[]).1.unwrap();
        assert_eq!(
            r.tool_calls,
            vec![ToolCall {
                id: "s1".into(),
                name: "fs/read".into(),
                arguments: "{\"path\": 1}".into()
            }]
        );
    }

    #[test]
    fn duplicated_final_fragment_and_null_arguments() {
        let body = sse(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"fs__read","arguments":null}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\": \"/x\"}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"/x\"}"}}]},"finish_reason":"tool_calls"}]}"#,
            "[DONE]",
        ]);
        let r = run(&tools_request(), &body, &[]).1.unwrap();
        assert_eq!(r.tool_calls[0].arguments, "{\"path\": \"/x\"}");
        assert!(r.invalid_tool_calls.is_empty());
    }

    #[test]
    fn mid_stream_error_keeps_the_partial_text() {
        let body = sse(&[
            r#"{"choices":[{"index":0,"delta":{"content":"Partial "}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"text"}}]}"#,
            r#"{"error":{"object":"error","message":"engine overloaded","type":"InternalServerError","code":503}}"#,
            "[DONE]",
        ]);
        let e = run(&request(vec![user("x")]), &body, &[]).1.unwrap_err();
        assert_eq!(e.code, ErrorCode::Unavailable);
        assert!(e.message.contains("engine overloaded"), "{}", e.message);
        assert_eq!(e.partial.unwrap().content.as_deref(), Some("Partial text"));
    }

    #[test]
    fn truncated_stream_is_reported_with_partial() {
        let body = sse(&[r#"{"choices":[{"index":0,"delta":{"content":"cut"}}]}"#]);
        let e = run(&request(vec![user("x")]), &body, &[]).1.unwrap_err();
        assert_eq!(e.code, ErrorCode::Truncated);
        assert_eq!(e.partial.unwrap().content.as_deref(), Some("cut"));
        // A finish reason without [DONE] is a complete answer.
        let body =
            sse(&[r#"{"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}"#]);
        assert_eq!(
            run(&request(vec![user("x")]), &body, &[])
                .1
                .unwrap()
                .content
                .as_deref(),
            Some("ok")
        );
    }

    #[test]
    fn think_tags_and_text_tool_calls_stay_out_of_content_deltas() {
        let body = sse(&[
            r#"{"choices":[{"index":0,"delta":{"content":"<thi"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"nk>plan</think>Calling. <tool"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"_call>{\"name\":\"fs/read\",\"arguments\":{\"path\":\"p\"}}</tool_call>"},"finish_reason":"stop"}]}"#,
            "[DONE]",
        ]);
        let (events, r) = run(&tools_request(), &body, &[]);
        let r = r.unwrap();
        assert_eq!(r.reasoning.as_deref(), Some("plan"));
        assert_eq!(r.content.as_deref(), Some("Calling."));
        assert_eq!(r.tool_calls.len(), 1);
        let text = content(&events);
        assert_eq!(text, "Calling. ");
        assert!(events.iter().any(
            |e| matches!(e, StreamEvent::ToolCall(d) if d.name.as_deref() == Some("fs/read"))
        ));
        // Held text that is not a call is released at the end.
        let body = sse(&[
            r#"{"choices":[{"index":0,"delta":{"content":"Use <tool_call> tags"},"finish_reason":"stop"}]}"#,
            "[DONE]",
        ]);
        let (events, r) = run(&tools_request(), &body, &[]);
        assert_eq!(r.unwrap().content.as_deref(), Some("Use <tool_call> tags"));
        let text = content(&events);
        assert_eq!(text, "Use <tool_call> tags");
    }

    #[test]
    fn repeated_reasoning_tokens_are_kept_and_double_fields_counted_once() {
        let body = sse(&[
            r#"{"choices":[{"index":0,"delta":{"reasoning":"\n"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning":"\n"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning":"ha","reasoning_content":"ha"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning":"ha"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}"#,
            "[DONE]",
        ]);
        let (events, r) = run(&request(vec![user("x")]), &body, &[]);
        let streamed: String = events
            .iter()
            .filter_map(|e| {
                if let StreamEvent::Reasoning(t) = e {
                    Some(t.as_str())
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(streamed, "\n\nhaha");
        assert_eq!(r.unwrap().reasoning.as_deref(), Some("\n\nhaha"));
    }

    #[test]
    fn with_tools_offered_a_code_fence_inside_an_answer_still_streams() {
        let body = sse(&[
            r#"{"choices":[{"index":0,"delta":{"content":"Code:\n"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"```rust\nfn main() {}\n```"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":" done"},"finish_reason":"stop"}]}"#,
            "[DONE]",
        ]);
        let (events, r) = run(&tools_request(), &body, &[]);
        let before_end: String = events
            .iter()
            .take(3)
            .filter_map(|e| {
                if let StreamEvent::Content(t) = e {
                    Some(t.as_str())
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(before_end, "Code:\n```rust\nfn main() {}\n``` done");
        assert!(r.unwrap().tool_calls.is_empty());
    }

    #[test]
    fn every_byte_split_gives_the_same_final_response() {
        let body = sse(&[
            r#"{"id":"x","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning_content":"héllo "}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"wörld 🦀"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"fs__read","arguments":"{\"p\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
            "[DONE]",
        ]);
        let body = String::from_utf8(body)
            .unwrap()
            .replace("\n\n", "\r\n\r\n")
            .into_bytes();
        let whole = run(&tools_request(), &body, &[]).1.unwrap();
        for i in 0..body.len() {
            assert_eq!(
                run(&tools_request(), &body, &[i]).1.unwrap(),
                whole,
                "split at {i}"
            );
        }
        // Pseudo-random chunkings (xorshift; deterministic).
        let mut seed = 0x9e3779b97f4a7c15u64;
        for _ in 0..200 {
            let chunks: Vec<usize> = (0..20)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed % 40) as usize
                })
                .collect();
            assert_eq!(
                run(&tools_request(), &body, &chunks).1.unwrap(),
                whole,
                "{chunks:?}"
            );
        }
    }
}
