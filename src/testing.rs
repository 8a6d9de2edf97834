//! Builders shared by the unit tests of every module (requests, messages, a backend, where an
//! answer was served), so no module borrows another's test helpers.

use crate::config::Backend;
use crate::decode::answer::Served;
use crate::types::*;
use crate::url::BaseUrl;

/// Where test answers come from.
pub const SERVED: Served = Served {
    backend: "b",
    requested_model: "m",
    attempts: 1,
    earlier: &[],
};

/// A backend named `b` of `kind` at `http://127.0.0.1:8000/v1`.
pub fn backend(kind: BackendKind) -> Backend {
    Backend {
        name: "b".into(),
        kind,
        base: BaseUrl::parse("http://127.0.0.1:8000/v1").unwrap(),
        api_key: None,
        models: vec![],
        weight: 1,
        legacy_guided_decoding: false,
    }
}

/// A user message.
pub fn user(text: &str) -> Message {
    Message::user(text)
}

/// A request with only these messages.
pub fn request(messages: Vec<Message>) -> ChatRequest {
    ChatRequest::new(messages)
}

/// A one-message request offering one tool (no parameters schema).
pub fn with_tool(name: &str) -> ChatRequest {
    let mut r = request(vec![user("x")]);
    r.tools = vec![ToolDefinition {
        name: name.into(),
        description: None,
        parameters: None,
    }];
    r
}

/// A vLLM backend at `url`, everything else default.
pub fn backend_config(url: &str) -> BackendConfig {
    BackendConfig {
        name: None,
        kind: BackendKind::Vllm,
        base_url: url.into(),
        api_key: None,
        models: vec![],
        weight: None,
        legacy_guided_decoding: None,
    }
}

/// A configuration with these backends, everything else default.
pub fn client_config(backends: Vec<BackendConfig>) -> ClientConfig {
    ClientConfig {
        backends,
        default_model: None,
        timeouts: Timeouts {
            connect_ms: None,
            first_byte_ms: None,
            between_bytes_ms: None,
            total_ms: None,
        },
        retry: RetryPolicy {
            max_attempts: None,
            initial_backoff_ms: None,
            max_backoff_ms: None,
            max_retry_after_ms: None,
            resume_streams: None,
        },
        routing: None,
        cooldown: CooldownPolicy {
            base_ms: None,
            max_ms: None,
            probe_health: None,
        },
        discovery_ttl_ms: None,
        metrics_ttl_ms: None,
        max_response_bytes: None,
        routing_seed: None,
        cache_aware_margin: None,
        session_header: None,
    }
}
