// Constructors and defaults of the WIT request and error records, written once. The
// component compiles this file against its wit-bindgen types; the host `include!`s it
// against its wasmtime-bindgen types (both generators give the records the same names), so
// a field added to the WIT is defaulted in one place.
//
// Expects `types` in scope: a module with the generated records.

// The generated records cannot `derive(Default)` as a group (WIT enums have no default
// case), so the record defaults are written out.
#[allow(clippy::derivable_impls)]
impl Default for types::Sampling {
    fn default() -> Self {
        types::Sampling {
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

impl types::ChatRequest {
    /// A request with only its messages: nothing else is sent, server defaults apply.
    pub fn new(messages: Vec<types::Message>) -> types::ChatRequest {
        types::ChatRequest {
            messages,
            model: None,
            sampling: types::Sampling::default(),
            tools: Vec::new(),
            tool_choice: None,
            parallel_tool_calls: None,
            response_format: None,
            recover_tool_calls: None,
            split_reasoning: None,
            extra_body: None,
            timeout_ms: None,
            routing_ticket: None,
            request_id: None,
            priority: None,
            continue_from: None,
            logprobs: None,
            session_id: None,
            cache_salt: None,
        }
    }

    /// A one-message conversation.
    pub fn user(text: impl Into<String>) -> types::ChatRequest {
        types::ChatRequest::new(vec![types::Message::user(text)])
    }
}

impl types::Message {
    /// A message with text content.
    pub fn new(role: types::Role, content: impl Into<String>) -> types::Message {
        types::Message {
            role,
            content: Some(content.into()),
            name: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
            parts: Vec::new(),
        }
    }

    /// Instructions for the model.
    pub fn system(content: impl Into<String>) -> types::Message {
        types::Message::new(types::Role::System, content)
    }

    /// The human or agent asking.
    pub fn user(content: impl Into<String>) -> types::Message {
        types::Message::new(types::Role::User, content)
    }

    /// An earlier answer of the model.
    pub fn assistant(content: impl Into<String>) -> types::Message {
        types::Message::new(types::Role::Assistant, content)
    }

    /// The assistant turn that made these calls (to send back with the results).
    pub fn assistant_calls(calls: Vec<types::ToolCall>) -> types::Message {
        types::Message {
            role: types::Role::Assistant,
            content: None,
            name: None,
            tool_calls: calls,
            tool_call_id: None,
            parts: Vec::new(),
        }
    }

    /// A tool's result for the call `call_id`.
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> types::Message {
        types::Message {
            role: types::Role::Tool,
            content: Some(content.into()),
            name: None,
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
            parts: Vec::new(),
        }
    }
}

impl types::ToolDefinition {
    /// A tool with a description and a JSON Schema for its arguments.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: serde_json::Value,
    ) -> types::ToolDefinition {
        types::ToolDefinition {
            name: name.into(),
            description: Some(description.into()),
            parameters: Some(parameters.to_string()),
        }
    }
}

impl types::Error {
    /// An error with only a code and a message.
    pub fn new(code: types::ErrorCode, message: impl Into<String>) -> types::Error {
        types::Error {
            code,
            message: message.into(),
            status: None,
            body: None,
            backend: None,
            attempts: 0,
            partial: None,
        }
    }
}
