//! Counting a request's prompt tokens the way its server does, chat template and tools
//! included: vLLM and SGLang take the chat messages at `POST /tokenize` and answer
//! `{"count", "max_model_len", "tokens"}`; llama.cpp takes the whole chat body at
//! `POST /v1/chat/completions/input_tokens` and answers `{"input_tokens"}`.

use crate::errors;
use crate::types::Error;
use crate::wire::bounded::JsonText;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The `/tokenize` body from a chat body: the fields that shape the prompt, nothing that
/// samples.
pub fn tokenize_body(chat_body: &[u8]) -> Result<Vec<u8>, Error> {
    let chat: Map<String, Value> = serde_json::from_slice(chat_body)
        .map_err(|e| Error::invalid_request(format!("cannot build the tokenize body: {e}")))?;
    let mut body = Map::new();
    for key in [
        "model",
        "messages",
        "tools",
        "continue_final_message",
        "add_generation_prompt",
    ] {
        if let Some(v) = chat.get(key) {
            body.insert(key.into(), v.clone());
        }
    }
    body.entry("add_generation_prompt").or_insert(true.into());
    serde_json::to_vec(&Value::Object(body))
        .map_err(|e| Error::invalid_request(format!("cannot serialize the tokenize body: {e}")))
}

#[derive(Deserialize)]
struct Counted {
    count: Option<u64>,
    input_tokens: Option<u64>,
    max_model_len: Option<JsonText>,
    /// Read only for its length, when no count is given.
    tokens: Option<Vec<serde::de::IgnoredAny>>,
}

/// The prompt tokens and the model's context length (when said) from either answer.
pub fn parse(body: &[u8], backend: &str) -> Result<(u32, Option<u32>), Error> {
    let malformed = |why: String| Error {
        body: Some(errors::kept_body(body)),
        ..Error::malformed(format!(
            "the token count from `{backend}` is not one we know ({why})"
        ))
    };
    let c: Counted = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let count = c
        .count
        .or(c.input_tokens)
        .or(c.tokens.map(|t| t.len() as u64))
        .ok_or_else(|| malformed("no `count`, `input_tokens` or `tokens`".into()))?;
    let max_len = c.max_model_len.and_then(|n| n.0.parse::<u32>().ok());
    Ok((u32::try_from(count).unwrap_or(u32::MAX), max_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_servers_count() {
        let vllm = br#"{"count":5,"max_model_len":32768,"tokens":[1,2,3,4,5],"token_strs":null}"#;
        assert_eq!(parse(vllm, "b").unwrap(), (5, Some(32768)));
        let llama = br#"{"input_tokens":32,"object":"response.input_tokens"}"#;
        assert_eq!(parse(llama, "b").unwrap(), (32, None));
        assert_eq!(parse(br#"{"tokens":[7,8]}"#, "b").unwrap(), (2, None));
        let e = parse(b"{}", "b").unwrap_err();
        assert!(e.message.contains("`b`"), "{}", e.message);
    }

    #[test]
    fn the_tokenize_body_keeps_what_shapes_the_prompt() {
        let chat = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"tools":[],"max_tokens":9}"#;
        let body: Value = serde_json::from_slice(&tokenize_body(chat).unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[],"add_generation_prompt":true})
        );
    }
}
