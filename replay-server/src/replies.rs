//! Server answers in the shapes vLLM, SGLang and llama.cpp send, built in one place so tests
//! and benchmarks script a server in a line and never hand-write the JSON again.
//!
//! Completions and chunks follow vLLM's full shape (`object`, `created`, `logprobs`, ...), so
//! what the client parses is what a real server sends. Error bodies come in each server's own
//! shape; see `openai-compatible-servers.md` in the reference notes for where each comes from.

use crate::Reply;
use bytes::Bytes;
use serde_json::{Value, json};
use std::time::Duration;

/// The chat completions path under the default base URL (`ReplayServer::base_url`).
pub const CHAT: &str = "/v1/chat/completions";

/// The model list path under the default base URL.
pub const MODELS: &str = "/v1/models";

/// The payload that ends an SSE stream (`data: [DONE]`).
pub const DONE: &str = "[DONE]";

/// The model name every built answer carries.
pub const MODEL: &str = "m";

/// Context length each model of [`models`] reports.
pub const MAX_MODEL_LEN: u32 = 32768;

/// Prompt tokens a built completion reports (completion tokens: 2, total: 5).
pub const PROMPT_TOKENS: u32 = 3;

/// Completion tokens a built completion reports.
pub const COMPLETION_TOKENS: u32 = 2;

/// A completion's JSON text: one choice holding `message`, ending with `finish`, with usage.
pub fn completion_body(message: Value, finish: &str) -> String {
    json!({
        "id": "chatcmpl-replay", "object": "chat.completion", "created": 1764000000, "model": MODEL,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish, "stop_reason": null}],
        "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS, "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}
    })
    .to_string()
}

/// `200`: a completion holding `message` (`{"content": ..., "tool_calls": [...]}`), finish
/// reason `stop`.
pub fn completion(message: Value) -> Reply {
    finished(message, "stop")
}

/// `200`: a completion holding `message`, ending with `finish` (`tool_calls`, `length`, ...).
pub fn finished(message: Value, finish: &str) -> Reply {
    Reply::json(completion_body(message, finish))
}

/// `200`: an assistant answer with this text.
pub fn text(content: &str) -> Reply {
    completion(json!({"role": "assistant", "content": content}))
}

/// `200`: an assistant answer calling tools, each `(id, name, arguments JSON text)`, with an
/// empty content as vLLM sends it; finish reason `tool_calls`.
pub fn tool_calls(calls: &[(&str, &str, &str)]) -> Reply {
    let calls: Vec<Value> = calls
        .iter()
        .map(|(id, name, arguments)| {
            json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
        })
        .collect();
    finished(
        json!({"role": "assistant", "content": "", "tool_calls": calls}),
        "tool_calls",
    )
}

/// A streamed chunk's JSON text (the SSE payload): one choice with `delta`, and its finish
/// reason when given.
pub fn chunk(delta: Value, finish: Option<&str>) -> String {
    json!({
        "id": "chatcmpl-replay", "object": "chat.completion.chunk", "created": 1764000000, "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
    })
    .to_string()
}

/// A chunk carrying the next piece of answer text.
pub fn content_chunk(text: &str) -> String {
    chunk(json!({"content": text}), None)
}

/// The chunk that ends generation: an empty delta and `reason`.
pub fn finish_chunk(reason: &str) -> String {
    chunk(json!({}), Some(reason))
}

/// The usage chunk sent last when `stream_options.include_usage` is set (no choices).
pub fn usage_chunk(prompt: u32, completion: u32) -> String {
    json!({
        "id": "chatcmpl-replay", "object": "chat.completion.chunk", "created": 1764000000, "model": MODEL,
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    })
    .to_string()
}

/// One SSE event as written on the wire: `data: <payload>\n\n`.
pub fn event(payload: &str) -> String {
    format!("data: {payload}\n\n")
}

/// `200`: a stream of these content pieces, a `stop` finish and `[DONE]`, one write per event.
pub fn stream(contents: &[&str]) -> Reply {
    let mut payloads: Vec<String> = contents.iter().map(|c| content_chunk(c)).collect();
    payloads.push(finish_chunk("stop"));
    payloads.push(DONE.to_string());
    Reply::sse_raw(payloads.iter().map(|p| event(p)))
}

/// `200`: an SSE stream that never ends, one content event `text` every `every`.
pub fn endless_content(text: &str, every: Duration) -> Reply {
    Reply::endless(
        "text/event-stream",
        Bytes::from(event(&content_chunk(text))),
        every,
    )
}

/// `200`: vLLM's model list with these ids, each `owned_by` `vllm` with [`MAX_MODEL_LEN`].
pub fn models(ids: &[&str]) -> Reply {
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1764000000, "owned_by": "vllm", "max_model_len": MAX_MODEL_LEN}))
        .collect();
    Reply::json(json!({"object": "list", "data": data}).to_string())
}

/// `200`: vLLM's embeddings answer for `count` inputs, each a `dims`-long float vector whose
/// values differ per input (`input index + component / dims`), with usage.
pub fn embeddings(count: usize, dims: usize) -> Reply {
    let data: Vec<Value> = (0..count)
        .map(|i| {
            let vector: Vec<f64> = (0..dims)
                .map(|d| i as f64 + d as f64 / dims as f64)
                .collect();
            json!({"object": "embedding", "index": i, "embedding": vector})
        })
        .collect();
    let tokens = count * 8;
    Reply::json(
        json!({"object": "list", "data": data, "model": MODEL,
               "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
        .to_string(),
    )
}

/// The OpenAI error type name a status usually comes with.
fn error_type(status: u16) -> &'static str {
    match status {
        400 => "BadRequestError",
        401 => "AuthenticationError",
        404 => "NotFoundError",
        422 => "UnprocessableEntityError",
        429 => "RateLimitError",
        503 => "ServiceUnavailableError",
        _ => "InternalServerError",
    }
}

/// vLLM's error body: `{"error":{"message","type","param","code"}}`.
pub fn error_body(status: u16, message: &str) -> String {
    json!({"error": {"message": message, "type": error_type(status), "param": null, "code": status}})
        .to_string()
}

/// `status` with vLLM's error body.
pub fn error(status: u16, message: &str) -> Reply {
    Reply::status_json(status, error_body(status, message))
}

/// SGLang's (and older vLLM's) flat error body: `{"object":"error","message","type","param","code"}`.
pub fn flat_error_body(status: u16, message: &str) -> String {
    json!({"object": "error", "message": message, "type": error_type(status), "param": null, "code": status})
        .to_string()
}

/// `status` with SGLang's flat error body.
pub fn flat_error(status: u16, message: &str) -> Reply {
    Reply::status_json(status, flat_error_body(status, message))
}

/// `status` with llama.cpp's error body: `{"error":{"code","message","type"}}`, where `kind` is
/// llama.cpp's type name (`exceed_context_size_error`, `unavailable_error`, ...).
pub fn llamacpp_error(status: u16, kind: &str, message: &str) -> Reply {
    Reply::status_json(
        status,
        json!({"error": {"code": status, "message": message, "type": kind}}).to_string(),
    )
}

/// `401` as vLLM and SGLang send it with `--api-key` (not the OpenAI error shape).
pub fn unauthorized() -> Reply {
    Reply::status_json(401, r#"{"error":"Unauthorized"}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(reply: Reply) -> Value {
        match reply {
            Reply::Body { body, .. } => serde_json::from_slice(&body).unwrap(),
            other => panic!("not a body: {other:?}"),
        }
    }

    #[test]
    fn answers_have_the_servers_shapes() {
        let c = body(text("hi"));
        assert_eq!(c["choices"][0]["message"]["content"], json!("hi"));
        assert_eq!(c["usage"]["total_tokens"], json!(5));
        let t = body(tool_calls(&[("t1", "f", "{}")]));
        assert_eq!(t["choices"][0]["finish_reason"], json!("tool_calls"));
        assert_eq!(
            t["choices"][0]["message"]["tool_calls"][0]["function"],
            json!({"name": "f", "arguments": "{}"})
        );
        let c: Value = serde_json::from_str(&finish_chunk("stop")).unwrap();
        assert_eq!(c["choices"][0]["finish_reason"], json!("stop"));
        assert_eq!(body(error(503, "busy"))["error"]["code"], json!(503));
        assert_eq!(body(flat_error(404, "gone"))["object"], json!("error"));
        assert_eq!(event(DONE), "data: [DONE]\n\n");
    }
}
