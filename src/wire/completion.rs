//! The server's chat completion JSON (whole answers and stream chunks share one shape) read
//! into a `RawAnswer`: what was said, before it is decoded (`decode::answer`). Every server's
//! variant of the shape is read here; unknown fields are ignored.

use crate::decode::tool_calls::RawToolCall;
use crate::errors;
use crate::types::{Error, Usage};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

/// What the server said, before decoding.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawAnswer {
    pub id: Option<String>,
    pub model: Option<String>,
    pub content: Option<String>,
    pub reasoning: Option<String>,
    pub tool_calls: Vec<RawToolCall>,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
}

// ---- wire shapes (only the fields we read; unknown ones are ignored) ----

/// A completion, or a stream chunk: one shape for both keeps the component small (each
/// typed struct costs its own parser code).
#[derive(Deserialize)]
pub(crate) struct WireCompletion<'a> {
    /// Borrowed: streams repeat these in every chunk, and only the first is kept.
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub model: Option<Cow<'a, str>>,
    pub choices: Option<Vec<WireChoice>>,
    pub usage: Option<WireUsage>,
    pub error: Option<Value>,
    /// `"error"` on SGLang's flat error objects.
    #[serde(borrow)]
    pub object: Option<Cow<'a, str>>,
    pub message: Option<Value>,
}

#[derive(Deserialize)]
pub(crate) struct WireChoice {
    pub index: Option<u32>,
    /// Non-streaming answers.
    pub message: Option<WireMessage>,
    /// Stream chunks.
    pub delta: Option<WireMessage>,
    pub finish_reason: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct WireMessage {
    pub content: Option<Value>,
    pub reasoning: Option<String>,
    pub reasoning_content: Option<String>,
    pub tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
pub(crate) struct WireToolCall {
    pub index: Option<u32>,
    pub id: Option<String>,
    pub function: Option<WireFunction>,
}

#[derive(Deserialize)]
pub(crate) struct WireFunction {
    pub name: Option<String>,
    /// `Some(Null)` for an explicit `null` (an invalid call), `None` when absent (no arguments).
    #[serde(default, deserialize_with = "explicit_null")]
    pub arguments: Option<Value>,
}

fn explicit_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Deserialize)]
pub(crate) struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    total_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
    completion_tokens_details: Option<Value>,
}

impl WireUsage {
    pub(crate) fn into_usage(self) -> Usage {
        let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        let prompt = self.prompt_tokens.unwrap_or(0);
        let completion = self.completion_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: clamp(prompt),
            completion_tokens: clamp(completion),
            total_tokens: clamp(
                self.total_tokens
                    .unwrap_or(prompt.saturating_add(completion)),
            ),
            reasoning_tokens: self
                .reasoning_tokens
                .or(self
                    .completion_tokens_details
                    .and_then(|d| d.get("reasoning_tokens").and_then(Value::as_u64)))
                .map(clamp),
        }
    }
}

/// Text of a `content` that is a string, or a list of `{"type":"text","text":..}` parts.
pub(crate) fn content_text(content: Option<Value>) -> Option<String> {
    match content? {
        Value::String(s) => Some(s),
        Value::Null => None,
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str).or_else(|| p.as_str()))
                .collect(),
        ),
        other => Some(other.to_string()),
    }
}

/// The arguments' text: a string's content, or a non-string value serialized; `None` if absent.
pub(crate) fn arguments_text(arguments: Option<Value>) -> Option<String> {
    match arguments? {
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

/// `reasoning` (newer vLLM) and `reasoning_content` (SGLang, llama.cpp, older vLLM): either,
/// or both (the same text twice for a while in vLLM).
pub(crate) fn merge_reasoning(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a.filter(|s| !s.is_empty()), b.filter(|s| !s.is_empty())) {
        (Some(a), Some(b)) if a == b => Some(a),
        (Some(a), Some(b)) => Some(format!("{a}\n{b}")),
        (a, b) => a.or(b),
    }
}

/// Parses a non-streaming completion body.
pub fn parse(body: &[u8]) -> Result<RawAnswer, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::malformed(
            "the server answered 200 with an empty body",
        ));
    }
    let completion: WireCompletion = serde_json::from_slice(body).map_err(|e| Error {
        body: Some(errors::kept_body(body)),
        ..Error::malformed(format!(
            "the server's answer is not a chat completion ({e})"
        ))
    })?;
    let choice = completion.choices.and_then(|c| c.into_iter().next());
    let Some(choice) = choice else {
        let said = completion
            .error
            .map(|e| crate::wire::server_errors::server_message(e.to_string().as_bytes()));
        let message = match said.and_then(|s| s.message) {
            Some(m) => format!("the server answered 200 with an error: {m}"),
            None => "the server's answer has no choices".to_string(),
        };
        return Err(Error {
            body: Some(errors::kept_body(body)),
            ..Error::malformed(message)
        });
    };
    let message = choice
        .message
        .ok_or_else(|| Error::malformed("the server's answer has no message"))?;
    Ok(RawAnswer {
        id: completion.id.map(Cow::into_owned),
        model: completion.model.map(Cow::into_owned),
        content: content_text(message.content),
        reasoning: merge_reasoning(message.reasoning, message.reasoning_content),
        tool_calls: message
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                let f = c.function;
                RawToolCall {
                    id: c.id,
                    name: f.as_ref().and_then(|f| f.name.clone()),
                    arguments: arguments_text(f.and_then(|f| f.arguments)),
                }
            })
            .collect(),
        finish_reason: choice.finish_reason,
        usage: completion.usage.map(WireUsage::into_usage),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ErrorCode;

    #[test]
    fn malformed_bodies_are_typed_errors() {
        for (body, needle) in [
            ("", "empty body"),
            ("not json", "not a chat completion"),
            (r#"{"choices":[]}"#, "no choices"),
            (r#"{"error":{"message":"engine died"}}"#, "engine died"),
            (r#"{"choices":[{"finish_reason":"stop"}]}"#, "no message"),
            (r#"{"choices":"nope"}"#, "not a chat completion"),
        ] {
            let e = parse(body.as_bytes()).unwrap_err();
            assert_eq!(e.code, ErrorCode::MalformedResponse, "{body}");
            assert!(e.message.contains(needle), "{body}: {}", e.message);
        }
    }
}
