//! The server's chat completion JSON (whole answers and stream chunks share one shape) read
//! into a `RawAnswer`: what was said, before it is decoded (`decode::answer`). Every server's
//! variant of the shape is read here; unknown fields are ignored.

use crate::decode::tool_calls::RawToolCall;
use crate::errors;
use crate::types::{Error, TokenLogprob, TopLogprob, Usage};
use crate::wire::bounded::{Bounded, ContentText, JsonText};
use serde::Deserialize;
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
    /// Per-token log probabilities, when asked for.
    pub logprobs: Vec<TokenLogprob>,
    /// Set when the answer broke a bound while being read (too many tool calls): it is
    /// decoded as far as it goes and reported as `malformed-response` with that partial.
    pub malformed: Option<String>,
}

// ---- wire shapes (only the fields we read; unknown ones are ignored) ----
//
// No `serde_json::Value` here: a parsed tree can take ten times its text, so a server could
// make the guest allocate far more than `max-response-bytes`. Values passed on are kept as
// text (`JsonText`), lists keep a bounded number of items (`Bounded`), and only the first
// choice is read (one answer per request: `n` is never sent).

/// The most tool calls one answer may carry; more is a malformed answer (the first ones are
/// kept in the partial response).
pub const MAX_TOOL_CALLS: usize = 128;

/// A completion, or a stream chunk: one shape for both keeps the component small (each
/// typed struct costs its own parser code).
#[derive(Deserialize)]
pub(crate) struct WireCompletion<'a> {
    /// Borrowed: streams repeat these in every chunk, and only the first is kept.
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub choices: Option<Bounded<WireChoice<'a>, 1>>,
    pub usage: Option<WireUsage>,
    pub error: Option<WireError>,
    /// `"error"` on SGLang's flat error objects.
    #[serde(borrow)]
    pub object: Option<Cow<'a, str>>,
    /// SGLang's flat errors carry the status here.
    pub code: Option<JsonText>,
}

/// `error`: an object (`message`, `type`, `code`) or a bare string.
pub(crate) enum WireError {
    Object {
        message: Option<JsonText>,
        kind: Option<JsonText>,
        code: Option<JsonText>,
    },
    Other(JsonText),
}

impl<'de> Deserialize<'de> for WireError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<WireError, D::Error> {
        // By hand, not `untagged`: serde buffers an untagged value as a tree first.
        #[derive(Deserialize)]
        struct Fields {
            message: Option<JsonText>,
            #[serde(rename = "type")]
            kind: Option<JsonText>,
            code: Option<JsonText>,
        }
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        if raw.get().starts_with('{') {
            let f: Fields = serde_json::from_str(raw.get()).map_err(serde::de::Error::custom)?;
            return Ok(WireError::Object {
                message: f.message,
                kind: f.kind,
                code: f.code,
            });
        }
        let text: JsonText = serde_json::from_str(raw.get()).map_err(serde::de::Error::custom)?;
        Ok(WireError::Other(text))
    }
}

impl WireError {
    /// The server's words.
    pub(crate) fn message(&self) -> Option<&str> {
        match self {
            WireError::Object { message, .. } => message.as_ref().map(|m| m.0.as_str()),
            WireError::Other(text) => Some(text.0.as_str()),
        }
    }

    /// An HTTP status in `code`, if it is one.
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            WireError::Object { code, .. } => http_status(code.as_ref()),
            WireError::Other(_) => None,
        }
    }
}

/// `code` as an HTTP error status (a number or a numeric string in 400..600).
pub(crate) fn http_status(code: Option<&JsonText>) -> Option<u16> {
    code?
        .0
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|c| (400..600).contains(c))
}

/// The most log-probability entries read from one answer or chunk, and alternatives per
/// token: bounds on what a server can make the component allocate.
const MAX_LOGPROBS: usize = 1 << 16;
const MAX_TOP: usize = 32;

#[derive(Deserialize)]
pub(crate) struct WireLogprobs {
    content: Option<Bounded<WireTokenLogprob, MAX_LOGPROBS>>,
}

#[derive(Deserialize)]
struct WireTokenLogprob {
    token: Option<String>,
    logprob: Option<f64>,
    top_logprobs: Option<Bounded<WireTop, MAX_TOP>>,
}

#[derive(Deserialize)]
struct WireTop {
    token: Option<String>,
    logprob: Option<f64>,
}

impl WireLogprobs {
    /// The entries as records (a missing logprob, e.g. `-inf` written as null, is -inf).
    pub(crate) fn into_records(self) -> Vec<TokenLogprob> {
        let content = self.content.map(|c| c.items).unwrap_or_default();
        content
            .into_iter()
            .map(|t| TokenLogprob {
                token: t.token.unwrap_or_default(),
                logprob: t.logprob.unwrap_or(f64::NEG_INFINITY),
                top: t
                    .top_logprobs
                    .map(|b| b.items)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|a| TopLogprob {
                        token: a.token.unwrap_or_default(),
                        logprob: a.logprob.unwrap_or(f64::NEG_INFINITY),
                    })
                    .collect(),
            })
            .collect()
    }
}

#[derive(Deserialize)]
pub(crate) struct WireChoice<'a> {
    pub index: Option<u64>,
    /// Per-token log probabilities, when asked for.
    pub logprobs: Option<WireLogprobs>,
    /// Non-streaming answers.
    #[serde(borrow)]
    pub message: Option<WireMessage<'a>>,
    /// Stream chunks.
    #[serde(borrow)]
    pub delta: Option<WireMessage<'a>>,
    pub finish_reason: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct WireMessage<'a> {
    /// Borrowed when the server wrote it without escapes: a big delta is not copied here.
    #[serde(borrow)]
    pub content: Option<ContentText<'a>>,
    pub reasoning: Option<String>,
    pub reasoning_content: Option<String>,
    pub tool_calls: Option<Bounded<WireToolCall, MAX_TOOL_CALLS>>,
}

#[derive(Deserialize)]
pub(crate) struct WireToolCall {
    /// Wide: a server may send any number; it is checked, never trusted as a size.
    pub index: Option<u64>,
    pub id: Option<String>,
    pub function: Option<WireFunction>,
}

#[derive(Deserialize)]
pub(crate) struct WireFunction {
    pub name: Option<String>,
    /// `None` when absent (no arguments), `Some(None)` for an explicit `null` (an invalid
    /// call, or an empty fragment mid-stream), else the text (a string's content, or any
    /// other value's JSON text).
    #[serde(default, deserialize_with = "explicit_null")]
    pub arguments: Option<Option<String>>,
}

fn explicit_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    let text = JsonText::deserialize_keeping_null(d)?;
    Ok(Some(text.map(|t| t.0)))
}

#[derive(Deserialize)]
pub(crate) struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    total_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
    completion_tokens_details: Option<CompletionDetails>,
    /// vLLM and llama.cpp.
    prompt_tokens_details: Option<PromptDetails>,
    /// SGLang (also inside the details on newer versions).
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct CompletionDetails {
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct PromptDetails {
    cached_tokens: Option<u64>,
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
                    .and_then(|d| d.reasoning_tokens))
                .map(clamp),
            cached_tokens: self
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .or(self.cached_tokens)
                .map(clamp),
        }
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
    let choice = completion.choices.and_then(|c| c.items.into_iter().next());
    let Some(choice) = choice else {
        let message = match completion.error.as_ref().and_then(WireError::message) {
            Some(m) => format!(
                "the server answered 200 with an error: {}",
                errors::truncate(m, 500)
            ),
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
    let calls = message.tool_calls.unwrap_or_default();
    let malformed = (calls.dropped > 0).then(|| too_many_calls(MAX_TOOL_CALLS + calls.dropped));
    Ok(RawAnswer {
        id: completion.id.map(Cow::into_owned),
        model: completion.model.map(Cow::into_owned),
        content: message.content.and_then(ContentText::into_string),
        reasoning: merge_reasoning(message.reasoning, message.reasoning_content),
        tool_calls: calls
            .items
            .into_iter()
            .map(|c| {
                let f = c.function;
                RawToolCall {
                    id: c.id,
                    name: f.as_ref().and_then(|f| f.name.clone()),
                    arguments: f
                        .and_then(|f| f.arguments)
                        .map(|a| a.unwrap_or_else(|| "null".into())),
                }
            })
            .collect(),
        finish_reason: choice.finish_reason,
        usage: completion.usage.map(WireUsage::into_usage),
        logprobs: choice
            .logprobs
            .map(WireLogprobs::into_records)
            .unwrap_or_default(),
        malformed,
    })
}

/// The message for an answer with more tool calls than [`MAX_TOOL_CALLS`].
pub(crate) fn too_many_calls(count: impl std::fmt::Display) -> String {
    format!(
        "the server sent {count} tool calls; an answer may have at most {MAX_TOOL_CALLS} (the first {MAX_TOOL_CALLS} are in the partial response)"
    )
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
            (r#"{"error":"Unauthorized"}"#, "Unauthorized"),
            (r#"{"error":{"message":{"nested":1}}}"#, r#"{"nested":1}"#),
        ] {
            let e = parse(body.as_bytes()).unwrap_err();
            assert_eq!(e.code, ErrorCode::MalformedResponse, "{body}");
            assert!(e.message.contains(needle), "{body}: {}", e.message);
        }
    }
}
