//! The OpenAI-compatible request body for `POST /chat/completions`, built from a
//! `chat-request` for one backend kind. Fields the caller left unset are not sent; requests a
//! backend kind cannot express are refused here, before anything is sent.

use crate::config::Backend;
use crate::decode::tool_calls::to_wire;
use crate::types::{
    BackendKind, ChatRequest, ContentPart, Error, Generated, Message, ResponseFormat, Role,
    ToolChoice,
};
use crate::wire::{base64, guided};
use serde_json::{Map, Value, json};

/// Checks what can be checked without a backend (so a bad request fails before routing).
pub fn validate(req: &ChatRequest) -> Result<(), Error> {
    if req.messages.is_empty() {
        return Err(Error::invalid_request("the request has no messages"));
    }
    for (i, m) in req.messages.iter().enumerate() {
        if !m.tool_calls.is_empty() && m.role != Role::Assistant {
            return Err(Error::invalid_request(format!(
                "messages[{i}]: only assistant messages carry tool calls"
            )));
        }
        if m.role == Role::Tool && m.tool_call_id.as_deref().is_none_or(str::is_empty) {
            return Err(Error::invalid_request(format!(
                "messages[{i}]: a tool message needs tool-call-id (the id of the call it answers)"
            )));
        }
    }
    let mut seen: Vec<(String, &String)> = Vec::new();
    for (i, t) in req.tools.iter().enumerate() {
        if t.name.trim().is_empty() {
            return Err(Error::invalid_request(format!("tools[{i}]: name is empty")));
        }
        // Names are compared as sent (`/` becomes `__`): two that collide there could not
        // be told apart in the answer.
        let wire = to_wire(&t.name);
        if let Some((_, first)) = seen.iter().find(|(w, _)| *w == wire) {
            return Err(Error::invalid_request(if *first == &t.name {
                format!("tools[{i}]: `{}` is offered twice", t.name)
            } else {
                format!(
                    "tools[{i}]: `{}` and `{first}` are both sent as `{wire}`; rename one",
                    t.name
                )
            }));
        }
        seen.push((wire, &t.name));
        if let Some(p) = &t.parameters {
            json_object(p).map_err(|why| {
                Error::invalid_request(format!("tools[{i}] ({}): parameters {why}", t.name))
            })?;
        }
    }
    match &req.tool_choice {
        Some(ToolChoice::Required) if req.tools.is_empty() => {
            return Err(Error::invalid_request(
                "tool-choice `required` needs at least one tool",
            ));
        }
        Some(ToolChoice::Named(name)) if !req.tools.iter().any(|t| &t.name == name) => {
            return Err(Error::invalid_request(format!(
                "tool-choice names `{name}`, which is not among the offered tools"
            )));
        }
        _ => {}
    }
    match &req.response_format {
        Some(ResponseFormat::JsonSchema(s)) => {
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(Error::invalid_request(format!(
                    "json-schema name `{}` must be non-empty and use only letters, digits, `_` and `-`",
                    s.name
                )));
            }
            json_object(&s.schema)
                .map_err(|why| Error::invalid_request(format!("json-schema schema {why}")))?;
        }
        Some(ResponseFormat::Regex(r)) if r.is_empty() => {
            return Err(Error::invalid_request("regex is empty"));
        }
        Some(ResponseFormat::Grammar(g)) if g.trim().is_empty() => {
            return Err(Error::invalid_request("grammar is empty"));
        }
        Some(ResponseFormat::Choice(c)) if c.is_empty() => {
            return Err(Error::invalid_request("choice list is empty"));
        }
        _ => {}
    }
    if let Some(extra) = &req.extra_body {
        json_object(extra).map_err(|why| Error::invalid_request(format!("extra-body {why}")))?;
    }
    if let Some(id) = &req.request_id
        && (id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(Error::invalid_request(
            "request-id must be 1-128 visible ASCII characters (no spaces)",
        ));
    }
    check_parts(req)?;
    if let Some(id) = &req.session_id
        && (id.is_empty() || id.len() > 256 || !id.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(Error::invalid_request(
            "session-id must be 1-256 visible ASCII characters (no spaces)",
        ));
    }
    if req.timeout_ms == Some(0) {
        return Err(Error::invalid_request("timeout-ms must be at least 1"));
    }
    Ok(())
}

/// What one call adds to a request body besides the request itself.
#[derive(Clone, Copy, Debug)]
pub struct CallIds<'a> {
    /// The call's id (`request_id` on vLLM, `rid` on SGLang).
    pub request_id: &'a str,
    /// The routed model.
    pub model: &'a str,
    /// Streamed (`stream`, `stream_options`).
    pub stream: bool,
    /// Send the request's `priority` (false for a backend that refused it).
    pub send_priority: bool,
}

impl CallIds<'_> {
    /// The same call for a backend that refused `priority`.
    pub fn without_priority(&self) -> Self {
        CallIds {
            send_priority: false,
            ..*self
        }
    }
}

/// Serializes the request body for `backend`. `stream` adds `stream` and `stream_options`.
pub fn chat_body(
    req: &ChatRequest,
    model: &str,
    backend: &Backend,
    stream: bool,
) -> Result<Vec<u8>, Error> {
    let call = CallIds {
        request_id: req.request_id.as_deref().unwrap_or_default(),
        model,
        stream,
        send_priority: true,
    };
    chat_body_with(req, backend, &call)
}

/// [`chat_body`] for one call: its id, model and framing.
pub fn chat_body_with(
    req: &ChatRequest,
    backend: &Backend,
    call: &CallIds<'_>,
) -> Result<Vec<u8>, Error> {
    let model = call.model;
    let stream = call.stream;
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    let mut messages: Vec<Value> = req.messages.iter().map(message).collect();
    if let Some(from) = &req.continue_from {
        // The answer so far as the final assistant turn, continued rather than answered.
        messages.push(json!({"role": "assistant", "content": prefill(from)}));
        body.insert("continue_final_message".into(), true.into());
        // SGLang has no such field (continue_final_message alone keeps the turn open).
        if backend.kind != BackendKind::Sglang {
            body.insert("add_generation_prompt".into(), false.into());
        }
    }
    body.insert("messages".into(), Value::Array(messages));
    control_fields(&mut body, req, backend, call);

    let s = &req.sampling;
    put_number(&mut body, "temperature", s.temperature)?;
    put_number(&mut body, "top_p", s.top_p)?;
    put_number(&mut body, "min_p", s.min_p)?;
    put_number(&mut body, "presence_penalty", s.presence_penalty)?;
    put_number(&mut body, "frequency_penalty", s.frequency_penalty)?;
    put_number(&mut body, "repetition_penalty", s.repetition_penalty)?;
    if let Some(k) = s.top_k {
        body.insert("top_k".into(), k.into());
    }
    if let Some(n) = req.logprobs {
        body.insert("logprobs".into(), true.into());
        if n > 0 {
            body.insert("top_logprobs".into(), n.into());
        }
    }
    if let Some(n) = s.max_tokens {
        // A continuation spends what is left of the answer's budget, so the whole answer
        // stops where an uninterrupted one would.
        let spent = req
            .continue_from
            .as_ref()
            .and_then(|f| f.usage)
            .map_or(0, |u| u.completion_tokens);
        body.insert("max_tokens".into(), n.saturating_sub(spent).max(1).into());
    }
    if !s.stop.is_empty() {
        body.insert("stop".into(), s.stop.clone().into());
    }
    if let Some(seed) = s.seed {
        body.insert("seed".into(), seed.into());
    }

    if !req.tools.is_empty() {
        let tools = req
            .tools
            .iter()
            .map(|t| {
                let mut function = Map::new();
                function.insert("name".into(), to_wire(&t.name).into());
                if let Some(d) = &t.description {
                    function.insert("description".into(), d.clone().into());
                }
                let parameters = match &t.parameters {
                    Some(p) => Value::Object(json_object(p).map_err(|why| {
                        Error::invalid_request(format!("tool `{}`: parameters {why}", t.name))
                    })?),
                    None => json!({"type": "object", "properties": {}}),
                };
                function.insert("parameters".into(), parameters);
                Ok(json!({"type": "function", "function": function}))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &req.tool_choice {
        let value = match choice {
            ToolChoice::None => json!("none"),
            ToolChoice::Auto => json!("auto"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Named(name) => {
                json!({"type": "function", "function": {"name": to_wire(name)}})
            }
        };
        body.insert("tool_choice".into(), value);
    }
    if let Some(p) = req.parallel_tool_calls {
        body.insert("parallel_tool_calls".into(), p.into());
    }
    if let Some(format) = &req.response_format {
        guided::constraint(&mut body, format, backend, !req.tools.is_empty())?;
    }
    if stream {
        body.insert("stream".into(), true.into());
        // SGLang sends no usage chunk unless asked; vLLM rejects stream_options without stream.
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if let Some(extra) = &req.extra_body {
        let extra = json_object(extra)
            .map_err(|why| Error::invalid_request(format!("extra-body {why}")))?;
        // Last, so server-specific fields from the caller win over generated ones.
        body.extend(extra);
    }
    serde_json::to_vec(&Value::Object(body))
        .map_err(|e| Error::invalid_request(format!("cannot serialize the request: {e}")))
}

/// The assistant text a continuation starts from: the answer so far, or, when the answer
/// has not begun, the open think block (so the reasoning goes on where it stopped).
pub fn prefill(from: &Generated) -> String {
    if from.content.is_empty() && !from.reasoning.is_empty() {
        format!("<think>\n{}", from.reasoning)
    } else {
        from.content.clone()
    }
}

/// The request id and priority, in the fields each server family reads.
fn control_fields(
    body: &mut Map<String, Value>,
    req: &ChatRequest,
    backend: &Backend,
    call: &CallIds<'_>,
) {
    if !call.request_id.is_empty() {
        let id = call.request_id;
        match backend.kind {
            BackendKind::Vllm => {
                body.insert("request_id".into(), id.into());
            }
            BackendKind::Sglang => {
                body.insert("rid".into(), id.into());
            }
            BackendKind::OpenaiCompatible | BackendKind::Auto => {}
        }
    }
    if let (Some(salt), BackendKind::Vllm) = (&req.cache_salt, backend.kind) {
        body.insert("cache_salt".into(), salt.clone().into());
    }
    if let (Some(p), true) = (req.priority, call.send_priority) {
        match backend.kind {
            // vLLM runs lower values first, as our API does.
            BackendKind::Vllm => {
                body.insert("priority".into(), p.into());
            }
            // SGLang runs higher values first.
            BackendKind::Sglang => {
                body.insert("priority".into(), (-i64::from(p)).into());
            }
            BackendKind::OpenaiCompatible | BackendKind::Auto => {}
        }
    }
}

fn message(m: &Message) -> Value {
    let mut out = Map::new();
    let role = match m.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    out.insert("role".into(), role.into());
    if !m.parts.is_empty() {
        out.insert("content".into(), content_parts(m));
    } else {
        match &m.content {
            Some(text) => {
                out.insert("content".into(), text.clone().into());
            }
            // An assistant turn that only calls tools has no content; every other turn needs one.
            None if m.role == Role::Assistant && !m.tool_calls.is_empty() => {}
            None => {
                out.insert("content".into(), "".into());
            }
        }
    }
    if let Some(name) = &m.name {
        out.insert("name".into(), name.clone().into());
    }
    if !m.tool_calls.is_empty() {
        let calls = m
            .tool_calls
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "type": "function",
                    "function": {"name": to_wire(&c.name), "arguments": c.arguments},
                })
            })
            .collect();
        out.insert("tool_calls".into(), Value::Array(calls));
    }
    if let Some(id) = &m.tool_call_id {
        out.insert("tool_call_id".into(), id.clone().into());
    }
    Value::Object(out)
}

fn put_number(body: &mut Map<String, Value>, key: &str, value: Option<f64>) -> Result<(), Error> {
    if let Some(v) = value {
        let n = serde_json::Number::from_f64(v)
            .ok_or_else(|| Error::invalid_request(format!("{key} must be a finite number")))?;
        body.insert(key.into(), Value::Number(n));
    }
    Ok(())
}

/// Inline image bytes a request may carry in all (their base64 text is a third larger).
pub const MAX_INLINE_IMAGE_BYTES: usize = 4 << 20;

/// A message's content as an OpenAI content-part list: its `content` text first, then the
/// parts; images as `image_url` (bytes as a `data:` URL).
fn content_parts(m: &Message) -> Value {
    let mut parts: Vec<Value> = Vec::with_capacity(m.parts.len() + 1);
    if let Some(text) = &m.content {
        parts.push(json!({"type": "text", "text": text}));
    }
    for part in &m.parts {
        parts.push(match part {
            ContentPart::Text(text) => json!({"type": "text", "text": text}),
            ContentPart::ImageUrl(url) => json!({"type": "image_url", "image_url": {"url": url}}),
            ContentPart::Image(image) => {
                let mut url = format!("data:{};base64,", image.mime_type);
                base64::encode_into(&image.bytes, &mut url);
                json!({"type": "image_url", "image_url": {"url": url}})
            }
        });
    }
    Value::Array(parts)
}

/// Checks the image parts: a known kind of MIME type, and inline bytes within the cap.
fn check_parts(req: &ChatRequest) -> Result<(), Error> {
    let mut inline = 0usize;
    for (i, m) in req.messages.iter().enumerate() {
        for part in &m.parts {
            match part {
                ContentPart::Image(image) => {
                    let mime = &image.mime_type;
                    let valid = mime.strip_prefix("image/").is_some_and(|sub| {
                        !sub.is_empty()
                            && sub
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
                    });
                    if !valid {
                        return Err(Error::invalid_request(format!(
                            "messages[{i}]: image mime-type `{mime}` is not an image type (e.g. image/png)"
                        )));
                    }
                    inline = inline.saturating_add(image.bytes.len());
                }
                ContentPart::ImageUrl(url) if url.trim().is_empty() => {
                    return Err(Error::invalid_request(format!(
                        "messages[{i}]: image-url is empty"
                    )));
                }
                _ => {}
            }
        }
    }
    if inline > MAX_INLINE_IMAGE_BYTES {
        return Err(Error::invalid_request(format!(
            "the request carries {inline} bytes of inline images; at most {MAX_INLINE_IMAGE_BYTES} (4 MiB) can be sent inline: pass large images by URL"
        )));
    }
    Ok(())
}

/// Parses JSON text that must be an object.
pub fn json_object(text: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(text.as_bytes()) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("must be a JSON object".into()),
        Err(e) => Err(format!("is not valid JSON: {e}")),
    }
}

#[cfg(test)]
mod tests;
