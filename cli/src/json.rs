//! JSON renderings of the records, as the CLI prints them, and readers for the JSON inputs
//! it takes (OpenAI-shaped messages and tools).

use llm_core_host::types::*;
use serde_json::{Map, Value, json};

/// `{"id","content","reasoning","tool_calls":[{"id","name","arguments"}],...}`; arguments
/// as JSON values.
pub fn response(r: &ChatResponse) -> Value {
    json!({
        "id": r.id,
        "content": r.content,
        "reasoning": r.reasoning,
        "tool_calls": r.tool_calls.iter().map(tool_call).collect::<Vec<_>>(),
        "invalid_tool_calls": r.invalid_tool_calls.iter().map(|c| json!({
            "id": c.id, "name": c.name, "raw_arguments": c.raw_arguments, "error": c.error,
        })).collect::<Vec<_>>(),
        "finish_reason": r.finish_reason.as_ref().map(finish_reason),
        "usage": r.usage.as_ref().map(|u| json!({
            "prompt_tokens": u.prompt_tokens,
            "completion_tokens": u.completion_tokens,
            "total_tokens": u.total_tokens,
            "reasoning_tokens": u.reasoning_tokens,
        })),
        "model": r.model,
        "backend": r.backend,
        "attempts": r.attempts,
    })
}

pub fn tool_call(c: &ToolCall) -> Value {
    let arguments = serde_json::from_str::<Value>(&c.arguments)
        .unwrap_or_else(|_| Value::String(c.arguments.clone()));
    json!({"id": c.id, "name": c.name, "arguments": arguments})
}

pub fn finish_reason(f: &FinishReason) -> String {
    match f {
        FinishReason::Stop => "stop".into(),
        FinishReason::Length => "length".into(),
        FinishReason::ToolCalls => "tool_calls".into(),
        FinishReason::ContentFilter => "content_filter".into(),
        FinishReason::Abort => "abort".into(),
        FinishReason::Other(s) => s.clone(),
    }
}

/// `{"error":{"kind","message","status",...}}`, with the partial response when there is one.
pub fn error(e: &Error) -> Value {
    let mut inner = Map::new();
    inner.insert("kind".into(), e.code.name().into());
    inner.insert("message".into(), e.message.clone().into());
    inner.insert("status".into(), json!(e.status));
    match &e.code {
        ErrorCode::Timeout(kind) => {
            inner.insert("timeout".into(), timeout_kind(*kind).into());
        }
        ErrorCode::RateLimited(ms) => {
            inner.insert("retry_after_ms".into(), json!(ms));
        }
        ErrorCode::UnknownModel(models) => {
            inner.insert("available_models".into(), json!(models));
        }
        _ => {}
    }
    inner.insert("backend".into(), json!(e.backend));
    inner.insert("attempts".into(), e.attempts.into());
    if let Some(body) = &e.body {
        inner.insert("body".into(), body.clone().into());
    }
    if let Some(p) = &e.partial {
        inner.insert("partial".into(), response(p));
    }
    json!({ "error": inner })
}

pub fn timeout_kind(k: TimeoutKind) -> &'static str {
    match k {
        TimeoutKind::Connect => "connect",
        TimeoutKind::FirstByte => "first-byte",
        TimeoutKind::BetweenBytes => "between-bytes",
        TimeoutKind::Total => "total",
    }
}

/// One stream event as a JSON line.
pub fn event(e: &StreamEvent) -> Value {
    match e {
        StreamEvent::Content(t) => json!({"type": "content", "text": t}),
        StreamEvent::Reasoning(t) => json!({"type": "reasoning", "text": t}),
        StreamEvent::ToolCall(d) => {
            json!({"type": "tool_call", "index": d.index, "id": d.id, "name": d.name, "arguments": d.arguments})
        }
        StreamEvent::Logprobs(l) => json!({"type": "logprobs", "tokens": logprobs(l)}),
        StreamEvent::Done(r) => json!({"type": "done", "response": response(r)}),
    }
}

/// Per-token log probabilities as JSON.
pub fn logprobs(l: &[TokenLogprob]) -> Value {
    l.iter()
        .map(|t| {
            json!({
                "token": t.token, "logprob": t.logprob,
                "top": t.top.iter().map(|a| json!({"token": a.token, "logprob": a.logprob})).collect::<Vec<_>>(),
            })
        })
        .collect()
}

pub fn model(m: &ModelInfo) -> Value {
    json!({"id": m.id, "backend": m.backend, "owned_by": m.owned_by, "max_model_len": m.max_model_len})
}

pub fn health(h: &BackendHealth) -> Value {
    json!({
        "backend": h.backend, "base_url": h.base_url, "healthy": h.healthy, "latency_ms": h.latency_ms,
        "load": h.load, "models": h.models, "cooldown_ms": h.cooldown_ms,
        "error": h.error.as_ref().map(|e| error(e)["error"].clone()),
    })
}

/// Reads OpenAI-shaped messages: `[{"role","content","name"?,"tool_calls"?,"tool_call_id"?}]`.
pub fn messages(v: &Value) -> Result<Vec<Message>, String> {
    let items = v.as_array().ok_or("messages must be a JSON array")?;
    items
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let role = match m.get("role").and_then(Value::as_str) {
                Some("system") | Some("developer") => Role::System,
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                Some("tool") => Role::Tool,
                other => return Err(format!("messages[{i}]: unknown role {other:?}")),
            };
            let text = |key: &str| m.get(key).and_then(Value::as_str).map(str::to_string);
            let tool_calls = match m.get("tool_calls") {
                Some(Value::Array(calls)) => calls
                    .iter()
                    .map(|c| {
                        let f = c.get("function").unwrap_or(c);
                        let arguments = match f.get("arguments") {
                            Some(Value::String(s)) => s.clone(),
                            Some(v) => v.to_string(),
                            None => "{}".into(),
                        };
                        Ok(ToolCall {
                            id: c
                                .get("id")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            name: f
                                .get("name")
                                .and_then(Value::as_str)
                                .ok_or(format!("messages[{i}]: a tool call has no name"))?
                                .to_string(),
                            arguments,
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?,
                _ => Vec::new(),
            };
            Ok(Message {
                role,
                content: text("content"),
                name: text("name"),
                tool_calls,
                tool_call_id: text("tool_call_id"),
                parts: Vec::new(),
            })
        })
        .collect()
}

/// Reads tools in the OpenAI shape (`[{"type":"function","function":{...}}]`) or bare
/// (`[{"name","description","parameters"}]`).
pub fn tools(v: &Value) -> Result<Vec<ToolDefinition>, String> {
    let items = v.as_array().ok_or("tools must be a JSON array")?;
    items
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let f = t.get("function").unwrap_or(t);
            Ok(ToolDefinition {
                name: f
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or(format!("tools[{i}]: no name"))?
                    .to_string(),
                description: f
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                parameters: f.get("parameters").map(Value::to_string),
            })
        })
        .collect()
}
