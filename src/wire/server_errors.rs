//! Servers' error answers read into `error` records. vLLM, SGLang and llama.cpp disagree on
//! the error body: nested `{"error":{"message","type","code"}}`, flat
//! `{"object":"error","message",...}`, `{"error":"Unauthorized"}`, FastAPI's `{"detail":...}`,
//! or plain text. All are read here, and the HTTP status (with the server's words where a
//! status is ambiguous) decides the error code.

use crate::errors::{kept_body, truncate};
use crate::types::{Error, ErrorCode};
use crate::wire::bounded::JsonText;
use crate::wire::completion::WireError;

/// What a server said in an error body.
#[derive(Debug, Default, PartialEq)]
pub struct ServerMessage {
    pub message: Option<String>,
    /// `type` (vLLM/SGLang/OpenAI) — e.g. `exceed_context_size_error` on llama.cpp.
    pub kind: Option<String>,
}

/// Reads any of the servers' error shapes; plain text becomes the message.
pub fn server_message(body: &[u8]) -> ServerMessage {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return ServerMessage::default();
    }
    /// The shapes' fields, read as text (never as a tree: an error body is the server's).
    #[derive(serde::Deserialize)]
    struct Body {
        error: Option<WireError>,
        message: Option<JsonText>,
        detail: Option<JsonText>,
        #[serde(rename = "type")]
        kind: Option<JsonText>,
    }
    let text_of = |t: Option<JsonText>| t.map(|t| t.0).filter(|t| t != "null");
    if !text.starts_with('{') {
        return ServerMessage {
            message: Some(first_line(text)),
            kind: None,
        };
    }
    let Ok(body) = serde_json::from_str::<Body>(text) else {
        return ServerMessage {
            message: Some(first_line(text)),
            kind: None,
        };
    };
    match body.error {
        Some(WireError::Object { message, kind, .. }) => ServerMessage {
            message: text_of(message),
            kind: text_of(kind),
        },
        Some(WireError::Other(s)) if s.0 != "null" => ServerMessage {
            message: Some(s.0),
            kind: None,
        },
        _ => ServerMessage {
            message: text_of(body.message).or_else(|| text_of(body.detail)),
            kind: text_of(body.kind),
        },
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    truncate(line, 300).to_string()
}

/// Maps a non-2xx answer to an error. `endpoint` is the path that was requested, for hints.
pub fn from_status(status: u16, body: &[u8], retry_after_ms: Option<u64>, endpoint: &str) -> Error {
    let said = server_message(body);
    let server_says = truncate(said.message.as_deref().unwrap_or_default(), 500).to_string();
    let lower = server_says.to_ascii_lowercase();
    let kind = said.kind.clone().unwrap_or_default();
    let quoted = if server_says.is_empty() {
        String::new()
    } else {
        format!(": {server_says}")
    };

    let (code, message) = match status {
        400 | 413 | 422 if is_context_overflow(&lower, &kind) => (
            ErrorCode::ContextLengthExceeded,
            format!(
                "the prompt is too long for the model's context (HTTP {status}){quoted}; shorten the conversation or lower max-tokens"
            ),
        ),
        400 | 404 if lower.contains("does not exist") || lower.contains("model not found") => (
            ErrorCode::UnknownModel(Vec::new()),
            format!("the server does not serve this model (HTTP {status}){quoted}"),
        ),
        401 | 403 => (
            ErrorCode::Unauthorized,
            format!(
                "the server rejected the API key (HTTP {status}){quoted}; set the backend's api-key"
            ),
        ),
        404 => (
            ErrorCode::HttpStatus,
            format!("HTTP 404 for {endpoint}{quoted}; check the base URL (it usually ends in /v1)"),
        ),
        429 => (
            ErrorCode::RateLimited(retry_after_ms),
            format!("the server is rate limiting (HTTP 429){quoted}"),
        ),
        503 => (
            ErrorCode::Unavailable,
            format!("the server is unavailable (HTTP 503){quoted}"),
        ),
        _ => (
            ErrorCode::HttpStatus,
            format!("the server answered HTTP {status}{quoted}"),
        ),
    };
    Error {
        status: Some(status),
        body: (!body.is_empty()).then(|| kept_body(body)),
        ..Error::new(code, message)
    }
}

fn is_context_overflow(lower_message: &str, kind: &str) -> bool {
    kind == "exceed_context_size_error"
        || lower_message.contains("maximum context length")
        || lower_message.contains("context length")
        || lower_message.contains("exceeds the available context size")
        || lower_message.contains("context size")
        || lower_message.contains("maximum allowed length")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::MAX_ERROR_BODY;

    #[test]
    fn reads_every_error_shape() {
        let nested = br#"{"error":{"message":"bad temperature","type":"BadRequestError","param":null,"code":400}}"#;
        assert_eq!(
            server_message(nested).message.as_deref(),
            Some("bad temperature")
        );
        let flat = br#"{"object":"error","message":"The model `x` does not exist.","type":"NotFoundError","param":null,"code":404}"#;
        assert_eq!(
            server_message(flat).message.as_deref(),
            Some("The model `x` does not exist.")
        );
        assert_eq!(server_message(flat).kind.as_deref(), Some("NotFoundError"));
        assert_eq!(
            server_message(br#"{"error":"Unauthorized"}"#)
                .message
                .as_deref(),
            Some("Unauthorized")
        );
        let fastapi = br#"{"detail":[{"loc":["body","messages"],"msg":"field required"}]}"#;
        assert!(
            server_message(fastapi)
                .message
                .unwrap()
                .contains("field required")
        );
        assert_eq!(
            server_message(b"Internal Server Error\nmore")
                .message
                .as_deref(),
            Some("Internal Server Error")
        );
        assert_eq!(server_message(b"  "), ServerMessage::default());
        assert_eq!(
            server_message(br#"{"error":null}"#),
            ServerMessage::default()
        );
    }

    #[test]
    fn maps_statuses_to_codes() {
        let vllm_ctx = br#"{"error":{"message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.","type":"BadRequestError","code":400}}"#;
        assert_eq!(
            from_status(400, vllm_ctx, None, "/v1/chat/completions").code,
            ErrorCode::ContextLengthExceeded
        );
        let llama_ctx = br#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":9000,"n_ctx":4096}}"#;
        assert_eq!(
            from_status(400, llama_ctx, None, "/v1/chat/completions").code,
            ErrorCode::ContextLengthExceeded
        );
        let unknown = br#"{"object":"error","message":"The model `gpt-9` does not exist.","type":"NotFoundError","code":404}"#;
        let e = from_status(404, unknown, None, "/v1/chat/completions");
        assert_eq!(e.code, ErrorCode::UnknownModel(vec![]));
        assert!(e.message.contains("gpt-9"));
        assert_eq!(
            from_status(401, br#"{"error":"Unauthorized"}"#, None, "/").code,
            ErrorCode::Unauthorized
        );
        assert_eq!(
            from_status(429, b"", Some(1000), "/").code,
            ErrorCode::RateLimited(Some(1000))
        );
        assert_eq!(
            from_status(503, b"{}", None, "/").code,
            ErrorCode::Unavailable
        );
        let e = from_status(404, b"Not Found", None, "/chat/completions");
        assert_eq!(e.code, ErrorCode::HttpStatus);
        assert!(e.message.contains("ends in /v1"), "{}", e.message);
        let e = from_status(500, b"boom", None, "/");
        assert_eq!(
            (e.code, e.status, e.body.as_deref()),
            (ErrorCode::HttpStatus, Some(500), Some("boom"))
        );
    }

    #[test]
    fn caps_kept_bodies_at_char_boundaries() {
        let body = "é".repeat(MAX_ERROR_BODY);
        let kept = kept_body(body.as_bytes());
        assert!(kept.len() <= MAX_ERROR_BODY && kept.chars().all(|c| c == 'é'));
        let e = from_status(500, body.as_bytes(), None, "/");
        assert!(
            e.message.len() < 400,
            "message stays one line: {}",
            e.message.len()
        );
    }
}
