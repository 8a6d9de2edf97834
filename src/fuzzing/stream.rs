//! The streaming path as a fuzz target: an SSE body (generated from the input as server
//! chunks, or raw bytes) goes through `SseParser` and `Assembler` the way `client::stream`
//! feeds them. Invariants, beyond not panicking:
//! - the body split at any bytes assembles to the same events and final result as whole;
//! - the checkpoint (`so_far`) only grows: each is a prefix of the next;
//! - a stream cut anywhere fails with a partial response whose text is a prefix of the
//!   whole stream's answer, and delivered content that is a prefix of the whole's.

use super::input::{Input, pieces};
use crate::decode::answer::{DecodeOptions, Expected, Served};
use crate::decode::assembler::Assembler;
use crate::decode::tool_calls::{CountingIds, ToolNames};
use crate::types::{ChatResponse, Error, StreamEvent, ToolDefinition};
use crate::wire::sse::SseParser;
use serde_json::{Value, json};

const SERVED: Served = Served {
    backend: "b",
    requested_model: "m",
    attempts: 1,
    earlier: &[],
};

/// Text pieces that reach the interesting states: tags, markers, JSON, multi-byte chars.
pub const WORDS: &[&str] = &[
    "Hel",
    "lo",
    " ",
    "\n",
    "<think>",
    "</think>",
    "<thi",
    "nk>",
    "</",
    "<tool_call>",
    "</tool_call>",
    "[TOOL_CALLS]",
    "<|python_tag|>",
    "{\"name\":\"get\",\"arguments\":{\"a\":1}}",
    "{\"name\": \"get\", \"parameters\": {}}",
    "get",
    "{",
    "}",
    "\"",
    "\\",
    "é",
    "日本",
    "🦀",
    "\r",
    "```json\n",
    "```",
    "<function=get>",
    "<parameter=a>",
    "</parameter>",
    "</function>",
];

const ARGS: &[&str] = &[
    "{",
    "}",
    "\"a\"",
    ":",
    "1",
    ",",
    "\"",
    "{\"a\":1}",
    "null",
    "[]",
    "\"{}\"",
    " ",
    "é",
];

/// Decode options: reasoning split, tool recovery and the JSON expectation from the input.
pub fn options(input: &mut Input) -> DecodeOptions {
    let offered = input.bool();
    let tools = if offered {
        vec![ToolDefinition {
            name: "get".into(),
            description: None,
            parameters: None,
        }]
    } else {
        vec![]
    };
    let json = match input.below(8) {
        0 => Expected::Any,
        1 => Expected::Schema(json!({"type": "object", "required": ["a"]})),
        2 => Expected::Choice(vec!["yes".into(), "no".into()]),
        3 => Expected::Regex("[a-z]+( [a-z]+)*".into()),
        _ => Expected::None,
    };
    DecodeOptions {
        names: ToolNames::new(&tools),
        recover_tool_calls: input.bool(),
        split_reasoning: input.bool(),
        json,
    }
}

fn data(delta: Value) -> Value {
    json!({"id": "c1", "model": "m1", "choices": [{"index": 0, "delta": delta}]})
}

/// One chunk's SSE event text (without the blank line), chosen by the input.
fn event(input: &mut Input) -> String {
    let payload = match input.below(14) {
        0..=3 => data(json!({"content": input.words(WORDS, 4)})).to_string(),
        4 => {
            let field = input.pick(&["reasoning_content", "reasoning"]);
            data(json!({ field: input.words(WORDS, 3) })).to_string()
        }
        5 | 6 => {
            let mut call = json!({"function": {"arguments": input.words(ARGS, 4)}});
            if input.bool() {
                call["index"] = json!(input.below(3));
            }
            if input.bool() {
                call["id"] = json!(input.pick(&["call_1", "call_2", ""]));
            }
            if input.bool() {
                call["function"]["name"] = json!(input.pick(&["get", "other", ""]));
            }
            data(json!({ "tool_calls": [call] })).to_string()
        }
        7 => {
            let reason = input.pick(&["stop", "length", "tool_calls", "eos"]);
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}).to_string()
        }
        8 => json!({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": input.byte(), "total_tokens": 9}}).to_string(),
        9 => "[DONE]".to_string(),
        10 => match input.below(3) {
            0 => r#"{"error":{"message":"boom","type":"InternalServerError","code":503}}"#.into(),
            1 => r#"{"object":"error","message":"bad","code":400}"#.into(),
            _ => r#"{"error":"Unauthorized"}"#.into(),
        },
        11 => {
            let lp = json!({"content": [{"token": "a", "logprob": -0.5, "top_logprobs": []}]});
            json!({"choices": [{"index": 0, "delta": {}, "logprobs": lp}]}).to_string()
        }
        12 => json!({"choices": [{"index": 1, "delta": {"content": "other"}}]}).to_string(),
        _ => input.text(12),
    };
    match input.below(8) {
        // A data field split over two lines (joined with `\n` by the parser).
        0 if payload.len() > 1 => {
            let at = super::input::floor(&payload, input.below(payload.len())).len();
            format!("data: {}\ndata:{}", &payload[..at], &payload[at..])
        }
        1 => format!(": ping\ndata:{payload}"),
        2 => format!("event: message\nid: 7\ndata: {payload}"),
        _ => format!("data: {payload}"),
    }
}

/// An SSE body: generated chunks, or (rarely) the input's raw bytes.
pub fn body(input: &mut Input) -> Vec<u8> {
    if input.byte() == 0xff {
        return input.rest().to_vec();
    }
    let mut out = String::new();
    for _ in 0..input.below(12) {
        let eol = input.pick(&["\n", "\r\n", "\r"]);
        out.push_str(&event(input).replace('\n', eol));
        out.push_str(eol);
        out.push_str(eol);
    }
    out.into_bytes()
}

/// What one pass over a body yields.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub events: Vec<StreamEvent>,
    pub result: Result<ChatResponse, Error>,
    /// The checkpoint's content after each piece.
    pub checkpoints: Vec<String>,
}

/// Feeds `body` in `parts` through parser and assembler, as `client::stream` does.
pub fn assemble(opts: &DecodeOptions, parts: &[&[u8]]) -> Outcome {
    let mut a = Assembler::new(opts.clone());
    let mut p = SseParser::new();
    let mut events = Vec::new();
    let mut checkpoints = Vec::new();
    for part in parts {
        p.push(part, &mut |d| a.on_data(d, &mut events));
        checkpoints.push(a.so_far().content.unwrap_or_default());
    }
    p.finish(&mut |d| a.on_data(d, &mut events));
    let result = a.finish(&SERVED, &mut CountingIds::default(), &mut events);
    Outcome {
        events,
        result,
        checkpoints,
    }
}

pub fn contents(events: &[StreamEvent]) -> String {
    let mut out = String::new();
    for e in events {
        if let StreamEvent::Content(c) = e {
            out.push_str(c);
        }
    }
    out
}

fn is_prefix(part: Option<&str>, whole: Option<&str>) -> bool {
    whole
        .unwrap_or_default()
        .starts_with(part.unwrap_or_default())
}

/// The target.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let opts = options(&mut input);
    let cuts_seed = input.bytes(16);
    let body = body(&mut input);
    let cuts = Input::new(cuts_seed).cuts(body.len());

    let whole = assemble(&opts, &[&body]);
    let split = assemble(&opts, &pieces(&body, &cuts));
    assert_eq!(
        whole.events, split.events,
        "events differ when split at {cuts:?}"
    );
    assert_eq!(
        whole.result, split.result,
        "result differs when split at {cuts:?}"
    );
    for pair in split.checkpoints.windows(2) {
        assert!(pair[1].starts_with(&pair[0]), "checkpoint shrank: {pair:?}");
    }

    // Cut streams: only where no later text can change the meaning of earlier text (no
    // `<think>` split, no tool calls recovered from text, no JSON check).
    let plain = !opts.split_reasoning && !opts.recover_tool_calls;
    let plain = plain && matches!(opts.json, Expected::None);
    let Ok(fin) = &whole.result else { return };
    if !plain {
        return;
    }
    // Whitespace-only content next to tool calls is dropped from the record.
    let delivered = contents(&whole.events);
    match &fin.content {
        Some(c) => assert_eq!(
            &delivered, c,
            "content events differ from the final content"
        ),
        None => assert!(
            delivered.trim().is_empty(),
            "content {delivered:?} was dropped"
        ),
    }
    for &cut in &cuts {
        let cut_run = assemble(&opts, &[&body[..cut]]);
        assert!(
            delivered.starts_with(&contents(&cut_run.events)),
            "content delivered before a cut at {cut} is not a prefix of the whole's"
        );
        let partial = match &cut_run.result {
            Ok(r) => r,
            Err(e) => match &e.partial {
                Some(p) => p,
                None => continue,
            },
        };
        let text = partial.content.as_deref().map(str::trim_end);
        assert!(
            is_prefix(text, fin.content.as_deref()),
            "partial {text:?} at {cut}"
        );
        assert!(is_prefix(
            partial.reasoning.as_deref(),
            fin.reasoning.as_deref()
        ));
    }
}
