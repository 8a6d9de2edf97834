//! Constructors with the WIT defaults, so Rust callers write only what they mean.
// The generated types cannot `derive(Default)` as a group (WIT enums have no default
// case), so the record defaults are written out here.
#![allow(clippy::derivable_impls)]

use crate::types::*;

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect_ms: None,
            first_byte_ms: None,
            between_bytes_ms: None,
            total_ms: None,
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: None,
            initial_backoff_ms: None,
            max_backoff_ms: None,
            max_retry_after_ms: None,
        }
    }
}

impl Default for CooldownPolicy {
    fn default() -> Self {
        CooldownPolicy {
            base_ms: None,
            max_ms: None,
            probe_health: None,
        }
    }
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: None,
            top_p: None,
            top_k: None,
            min_p: None,
            max_tokens: None,
            stop: Vec::new(),
            seed: None,
            presence_penalty: None,
            frequency_penalty: None,
            repetition_penalty: None,
        }
    }
}

impl BackendConfig {
    /// A backend of `kind` at `base_url` (the OpenAI API root, e.g. `http://127.0.0.1:8000/v1`);
    /// no name, key or model list, weight 1.
    pub fn new(kind: BackendKind, base_url: impl Into<String>) -> BackendConfig {
        BackendConfig {
            name: None,
            kind,
            base_url: base_url.into(),
            api_key: None,
            models: Vec::new(),
            weight: None,
            legacy_guided_decoding: None,
        }
    }
}

impl ClientConfig {
    /// These backends, every other setting at its WIT default.
    pub fn new(backends: Vec<BackendConfig>) -> ClientConfig {
        ClientConfig {
            backends,
            default_model: None,
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
            routing: None,
            cooldown: CooldownPolicy::default(),
            discovery_ttl_ms: None,
            metrics_ttl_ms: None,
            max_response_bytes: None,
            routing_seed: None,
        }
    }

    /// One backend, everything else default.
    pub fn single(kind: BackendKind, base_url: impl Into<String>) -> ClientConfig {
        ClientConfig::new(vec![BackendConfig::new(kind, base_url)])
    }
}

impl Message {
    /// A message from `role` with this text.
    pub fn new(role: Role, content: impl Into<String>) -> Message {
        Message {
            role,
            content: Some(content.into()),
            name: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Message {
        Message::new(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Message {
        Message::new(Role::User, content)
    }

    /// An assistant message (an earlier answer, for multi-turn conversations).
    pub fn assistant(content: impl Into<String>) -> Message {
        Message::new(Role::Assistant, content)
    }

    /// The assistant turn that made these calls (to send back with the results).
    pub fn assistant_calls(calls: Vec<ToolCall>) -> Message {
        Message {
            role: Role::Assistant,
            content: None,
            name: None,
            tool_calls: calls,
            tool_call_id: None,
        }
    }

    /// A tool's result for the call `call_id`.
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Message {
        Message {
            role: Role::Tool,
            content: Some(content.into()),
            name: None,
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
        }
    }
}

impl ChatRequest {
    /// A request with these messages, everything else at its WIT default (the client's
    /// default model, server-side sampling defaults, no tools).
    pub fn new(messages: Vec<Message>) -> ChatRequest {
        ChatRequest {
            messages,
            model: None,
            sampling: Sampling::default(),
            tools: Vec::new(),
            tool_choice: None,
            parallel_tool_calls: None,
            response_format: None,
            recover_tool_calls: None,
            split_reasoning: None,
            extra_body: None,
            timeout_ms: None,
            routing_ticket: None,
        }
    }

    /// A one-message conversation.
    pub fn user(text: impl Into<String>) -> ChatRequest {
        ChatRequest::new(vec![Message::user(text)])
    }
}

impl ToolDefinition {
    /// A tool named `name`, described for the model, taking arguments matching the JSON
    /// Schema `parameters`.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: serde_json::Value,
    ) -> ToolDefinition {
        ToolDefinition {
            name: name.into(),
            description: Some(description.into()),
            parameters: Some(parameters.to_string()),
        }
    }
}
