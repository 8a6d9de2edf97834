//! JSON renderings of the records, as the CLI prints them, and readers for the JSON inputs
//! it takes (OpenAI-shaped messages and tools).

use llm_core_host::types::*;
use serde_json::{Map, Value, json};

/// `{"id","content","reasoning","tool_calls":[{"id","name","arguments"}],...}`; arguments
/// as JSON values, `logprobs` empty unless asked for, `earlier_backends` empty unless the
/// answer was resumed. Names are OpenAI's (`finish_reason: "tool_calls"`), as servers and
/// OpenAI clients print them; the WIT spells the same cases in kebab case (`tool-calls`).
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
        "usage": r.usage.as_ref().map(usage),
        "model": r.model,
        "backend": r.backend,
        "earlier_backends": r.earlier_backends,
        "logprobs": logprobs(&r.logprobs),
        "attempts": r.attempts,
    })
}

/// `{"prompt_tokens","completion_tokens","total_tokens","reasoning_tokens","cached_tokens"}`
/// (the last two `null` when the server did not say).
pub fn usage(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
        "reasoning_tokens": u.reasoning_tokens,
        "cached_tokens": u.cached_tokens,
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
/// `content` is a string, `null`, or an array of content parts whose `text` parts are joined
/// with newlines (as vLLM does); other parts (images, audio, files) are refused, since
/// sending the message without them would change what it says.
pub fn messages(v: &Value) -> Result<Vec<Message>, String> {
    let items = v.as_array().ok_or(
        "must hold a JSON array of messages, e.g. [{\"role\": \"user\", \"content\": \"Hi\"}]",
    )?;
    items
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if !m.is_object() {
                return Err(format!("messages[{i}] is not an object"));
            }
            let role = match m.get("role").and_then(Value::as_str) {
                Some("system") | Some("developer") => Role::System,
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                Some("tool") => Role::Tool,
                Some(other) => {
                    return Err(format!(
                        "messages[{i}]: unknown role `{other}` (system, developer, user, assistant or tool)"
                    ));
                }
                None => return Err(format!("messages[{i}] has no \"role\"")),
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
                None | Some(Value::Null) => Vec::new(),
                Some(_) => return Err(format!("messages[{i}].tool_calls is not an array")),
            };
            Ok(Message {
                role,
                content: content(i, m.get("content"))?,
                name: text("name"),
                tool_calls,
                tool_call_id: text("tool_call_id"),
                parts: Vec::new(),
            })
        })
        .collect()
}

/// A message's `content`: a string, `null` / absent, or text content parts.
fn content(i: usize, v: Option<&Value>) -> Result<Option<String>, String> {
    let parts = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => return Ok(Some(s.clone())),
        Some(Value::Array(parts)) => parts,
        Some(_) => {
            return Err(format!(
                "messages[{i}].content must be a string, an array of text parts or null"
            ));
        }
    };
    if parts.is_empty() {
        return Err(format!("messages[{i}].content is an empty array"));
    }
    let texts = parts
        .iter()
        .enumerate()
        .map(|(j, part)| match part.get("type").and_then(Value::as_str) {
            Some("text") => part
                .get("text")
                .and_then(Value::as_str)
                .ok_or(format!("messages[{i}].content[{j}] is a text part without \"text\"")),
            Some(other) => Err(format!(
                "messages[{i}].content[{j}] is a `{other}` part; llm-core sends text only (text parts are joined)"
            )),
            None => Err(format!("messages[{i}].content[{j}] has no \"type\"")),
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Some(texts.join("\n")))
}

/// Reads tools in the OpenAI shape (`[{"type":"function","function":{...}}]`) or bare
/// (`[{"name","description","parameters"}]`).
pub fn tools(v: &Value) -> Result<Vec<ToolDefinition>, String> {
    let items = v.as_array().ok_or("must hold a JSON array of tools")?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_parts_are_joined_and_other_parts_refused() {
        let m = messages(&json!([
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}]},
        ]))
        .unwrap();
        assert_eq!(m[0].content.as_deref(), Some("Be brief."));
        assert_eq!(m[1].content.as_deref(), Some("a\nb"));
        assert_eq!((m[2].content.as_deref(), m[2].tool_calls.len()), (None, 1));
        for (bad, needle) in [
            (
                json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
                "`image_url` part",
            ),
            (json!([{"role": "user", "content": []}]), "empty array"),
            (json!([{"role": "user", "content": 5}]), "must be a string"),
            (
                json!([{"role": "user", "content": [{"type": "text"}]}]),
                "without \"text\"",
            ),
            (
                json!([{"role": "usr", "content": "x"}]),
                "unknown role `usr`",
            ),
            (json!([{"content": "x"}]), "has no \"role\""),
            (json!({"role": "user"}), "JSON array"),
        ] {
            let e = messages(&bad).unwrap_err();
            assert!(e.contains(needle), "{needle}: {e}");
            assert!(!e.contains("Some("), "{e}");
        }
    }
}
