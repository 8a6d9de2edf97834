//! Fuzz targets for what decodes server bytes outside the stream: completion bodies, error
//! bodies, tool-call arguments and calls written as text, `<think>` splitting, Prometheus
//! metrics. Each checks the decoder's promise as well as not panicking.

use super::input::{Input, pieces};
use super::stream::{WORDS, options};
use crate::decode::answer::{self, Served};
use crate::decode::reasoning::{Piece, ThinkFilter, split};
use crate::decode::text_tools;
use crate::decode::tool_calls::{self, CountingIds, Decoded, RawToolCall, ToolNames};
use crate::types::{ChatResponse, Error, ToolDefinition};
use crate::wire::{completion, metrics, server_errors};
use serde_json::{Map, Value, json};

const SERVED: Served = Served {
    backend: "b",
    requested_model: "m",
    attempts: 1,
    earlier: &[],
};

/// True when `text` is the JSON text of one object.
pub fn is_object_text(text: &str) -> bool {
    serde_json::from_str::<Map<String, Value>>(text).is_ok()
}

/// Every valid call's arguments are an object's JSON text; invalid ones keep their text.
fn check_calls(r: &ChatResponse) {
    for c in &r.tool_calls {
        assert!(
            is_object_text(&c.arguments),
            "arguments not an object: {:?}",
            c.arguments
        );
        assert!(!c.name.is_empty() && !c.id.is_empty());
    }
}

fn check_result(result: &Result<ChatResponse, Error>) {
    match result {
        Ok(r) => check_calls(r),
        Err(e) => {
            if let Some(p) = &e.partial {
                check_calls(p);
            }
        }
    }
}

/// A completion body: built from the input as a server would send it, or raw bytes.
fn completion_body(input: &mut Input) -> Vec<u8> {
    if input.byte() == 0xff {
        return input.rest().to_vec();
    }
    let mut message = json!({"role": "assistant"});
    if input.bool() {
        message["content"] = match input.below(3) {
            0 => Value::Null,
            1 => json!([{"type": "text", "text": input.words(WORDS, 3)}, input.words(WORDS, 2)]),
            _ => json!(input.words(WORDS, 6)),
        };
    }
    if input.bool() {
        message["reasoning_content"] = json!(input.words(WORDS, 3));
    }
    if input.bool() {
        let calls: Vec<Value> = (0..input.below(3))
            .map(|_| {
                let args = match input.below(4) {
                    0 => json!({"a": 1}),
                    1 => Value::Null,
                    2 => json!(input.words(super::stream::WORDS, 3)),
                    _ => json!(input.text(20)),
                };
                json!({"id": "call_1", "type": "function",
                       "function": {"name": input.pick(&["get", "other", ""]), "arguments": args}})
            })
            .collect();
        message["tool_calls"] = json!(calls);
    }
    let mut body = json!({"id": "c1", "object": "chat.completion", "model": "m1",
        "choices": [{"index": 0, "message": message, "finish_reason": input.pick(&["stop", "length", "tool_calls"])}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}});
    if input.bool() {
        body["choices"] = json!([]);
        body["error"] = json!({"message": input.text(10), "code": input.u16()});
    }
    body.to_string().into_bytes()
}

/// `completion::parse` then `answer::decode`: no panic, valid calls hold objects.
pub fn completion(data: &[u8]) {
    let mut input = Input::new(data);
    let opts = options(&mut input);
    let body = completion_body(&mut input);
    if let Ok(raw) = completion::parse(&body) {
        let result = answer::decode(raw, &opts, &mut CountingIds::default(), &SERVED);
        check_result(&result);
    }
}

/// `server_errors::from_status`: any status and body give a bounded, typed error.
pub fn error_body(data: &[u8]) {
    let mut input = Input::new(data);
    let status = input.u16();
    let retry = input.bool().then(|| u64::from(input.u32()));
    let body = input.rest();
    let e = server_errors::from_status(status, body, retry, "/v1/chat/completions");
    assert!(
        e.message.len() <= 4096,
        "message of {} bytes",
        e.message.len()
    );
    if let Some(b) = &e.body {
        assert!(b.len() <= 64 * 1024, "kept body of {} bytes", b.len());
    }
}

/// `tool_calls::decode`: arguments are always an object's JSON text, whatever was sent.
pub fn tool_args(data: &[u8]) {
    let mut input = Input::new(data);
    let names = ToolNames::new(&[ToolDefinition {
        name: input.pick(&["get", "a.b", "get weather"]).into(),
        description: None,
        parameters: None,
    }]);
    let name = input
        .pick(&[Some("get"), Some("a_b"), Some(""), None])
        .map(str::to_string);
    let arguments = match input.below(4) {
        0 => None,
        1 => Some(input.words(super::stream::WORDS, 8)),
        _ => Some(String::from_utf8_lossy(input.rest()).into_owned()),
    };
    if let Some(text) = &arguments
        && let Ok(object) = tool_calls::arguments_object(text)
    {
        assert!(is_object_text(&object), "{text:?} became {object:?}");
    }
    let raw = RawToolCall {
        id: None,
        name,
        arguments,
    };
    if let Decoded::Valid(c) = tool_calls::decode(raw, &names, &mut CountingIds::default()) {
        assert!(
            is_object_text(&c.arguments),
            "valid call with {:?}",
            c.arguments
        );
    }
}

/// `text_tools::recover`: recovered calls name an offered tool, decode to objects, and the
/// remaining text is no longer than the content.
pub fn text_tools(data: &[u8]) {
    let mut input = Input::new(data);
    let names = ToolNames::new(&[ToolDefinition {
        name: "get".into(),
        description: None,
        parameters: None,
    }]);
    let content = if input.bool() {
        input.words(WORDS, 24)
    } else {
        String::from_utf8_lossy(input.rest()).into_owned()
    };
    if let Some((calls, rest)) = text_tools::recover(&content, &names) {
        assert!(!calls.is_empty());
        assert!(rest.len() <= content.len());
        for call in calls {
            assert!(
                call.name
                    .as_deref()
                    .is_some_and(|n| names.lookup(n).is_some())
            );
            if let Decoded::Valid(c) = tool_calls::decode(call, &names, &mut CountingIds::default())
            {
                assert!(is_object_text(&c.arguments), "recovered {:?}", c.arguments);
            }
        }
    }
}

/// `ThinkFilter` over any split gives the same pieces as over the whole text, never more
/// text than it got, and `split` takes no text it was not given.
pub fn reasoning(data: &[u8]) {
    let mut input = Input::new(data);
    let text = if input.bool() {
        input.words(WORDS, 16)
    } else {
        input.text(256)
    };
    let cuts = input.cuts(text.len());
    let filtered = |parts: Vec<&[u8]>| {
        let mut f = ThinkFilter::default();
        let (mut reasoning, mut content) = (String::new(), String::new());
        let mut take = |p: Piece| match p {
            Piece::Reasoning(r) => reasoning.push_str(&r),
            Piece::Content(c) => content.push_str(&c),
        };
        // Deltas are whole strings: cut at char boundaries.
        let mut carry = Vec::new();
        for part in parts {
            carry.extend_from_slice(part);
            let valid = match std::str::from_utf8(&carry) {
                Ok(_) => carry.len(),
                Err(e) => e.valid_up_to(),
            };
            let delta = String::from_utf8_lossy(&carry[..valid]).into_owned();
            carry.drain(..valid);
            f.push(delta, &mut take);
        }
        f.finish(&mut take);
        (reasoning, content)
    };
    let whole = filtered(vec![text.as_bytes()]);
    let split_run = filtered(pieces(text.as_bytes(), &cuts));
    assert_eq!(
        whole, split_run,
        "think filter differs when split at {cuts:?}"
    );
    assert!(whole.0.len() + whole.1.len() <= text.len());
    if let Some((r, c)) = split(&text) {
        assert!(r.len() + c.len() <= text.len());
    }
}

/// `metrics::load`: a load is a finite, non-negative number.
pub fn metrics(data: &[u8]) {
    let mut input = Input::new(data);
    let text = if input.bool() {
        const LINES: &[&str] = &[
            "vllm:num_requests_running",
            "sglang:num_queue_reqs",
            "llamacpp:requests_deferred",
            "{model=\"a} b\",x=\"\\\"\"}",
            "{",
            "}",
            " ",
            "1",
            "2.5",
            "1e308",
            "-3",
            "NaN",
            "+Inf",
            "\n",
            "# HELP x\n",
            "\"",
            "\\",
            "0x10",
            " 1700000000",
        ];
        input.words(LINES, 32)
    } else {
        String::from_utf8_lossy(input.rest()).into_owned()
    };
    if let Some(load) = metrics::load(&text) {
        assert!(load.is_finite() && load >= 0.0, "load {load} from {text:?}");
    }
}
