//! A chat request as JSON and back, exactly: the request half of a checkpoint file. Every
//! field of the WIT `chat-request` is kept (snake-case names, JSON texts such as tool
//! parameters kept as the text they were, image bytes as base64, numbers read back to the
//! same bits), so a resumed request is the one that was suspended.

use crate::checkpoint::GeneratedJson;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use llm_core_host::types::*;
use serde::{Deserialize, Deserializer, Serialize, de::Error as _};

#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RequestJson {
    messages: Vec<MessageJson>,
    model: Option<String>,
    #[serde(default)]
    sampling: SamplingJson,
    #[serde(default)]
    tools: Vec<ToolJson>,
    tool_choice: Option<ToolChoiceJson>,
    parallel_tool_calls: Option<bool>,
    response_format: Option<FormatJson>,
    recover_tool_calls: Option<bool>,
    split_reasoning: Option<bool>,
    extra_body: Option<String>,
    timeout_ms: Option<u32>,
    routing_ticket: Option<u64>,
    request_id: Option<String>,
    priority: Option<i32>,
    session_id: Option<String>,
    cache_salt: Option<String>,
    logprobs: Option<u8>,
    continue_from: Option<GeneratedJson>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RoleJson {
    System,
    User,
    Assistant,
    Tool,
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct MessageJson {
    role: RoleJson,
    content: Option<String>,
    #[serde(default)]
    parts: Vec<PartJson>,
    name: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallJson>,
    tool_call_id: Option<String>,
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum PartJson {
    Text(String),
    ImageUrl(String),
    Image { mime_type: String, base64: String },
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ToolCallJson {
    id: String,
    name: String,
    arguments: String,
}

/// Sampling, its numbers read back exactly (see [`exact`]).
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct SamplingJson {
    #[serde(default, deserialize_with = "exact")]
    temperature: Option<f64>,
    #[serde(default, deserialize_with = "exact")]
    top_p: Option<f64>,
    top_k: Option<i32>,
    #[serde(default, deserialize_with = "exact")]
    min_p: Option<f64>,
    max_tokens: Option<u32>,
    #[serde(default)]
    stop: Vec<String>,
    seed: Option<i64>,
    #[serde(default, deserialize_with = "exact")]
    presence_penalty: Option<f64>,
    #[serde(default, deserialize_with = "exact")]
    frequency_penalty: Option<f64>,
    #[serde(default, deserialize_with = "exact")]
    repetition_penalty: Option<f64>,
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ToolJson {
    name: String,
    description: Option<String>,
    parameters: Option<String>,
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum ToolChoiceJson {
    None,
    Auto,
    Required,
    Named(String),
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum FormatJson {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        description: Option<String>,
        schema: String,
        strict: Option<bool>,
    },
    Regex(String),
    Choice(Vec<String>),
    Grammar(String),
}

/// A number as the bits it was written from: the JSON text is parsed by the standard
/// library, which rounds correctly (serde_json's default float reader may be one unit off
/// in the last place for 17-digit numbers).
fn exact<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let raw: Option<Box<serde_json::value::RawValue>> = Option::deserialize(d)?;
    raw.map(|r| {
        r.get()
            .parse::<f64>()
            .map_err(|_| D::Error::custom(format!("`{}` is not a number", r.get())))
    })
    .transpose()
}

impl From<&ChatRequest> for RequestJson {
    fn from(r: &ChatRequest) -> RequestJson {
        let s = &r.sampling;
        RequestJson {
            messages: r.messages.iter().map(MessageJson::from).collect(),
            model: r.model.clone(),
            sampling: SamplingJson {
                temperature: s.temperature,
                top_p: s.top_p,
                top_k: s.top_k,
                min_p: s.min_p,
                max_tokens: s.max_tokens,
                stop: s.stop.clone(),
                seed: s.seed,
                presence_penalty: s.presence_penalty,
                frequency_penalty: s.frequency_penalty,
                repetition_penalty: s.repetition_penalty,
            },
            tools: r
                .tools
                .iter()
                .map(|t| ToolJson {
                    name: t.name.clone(),
                    description: t.description.clone(),
                    parameters: t.parameters.clone(),
                })
                .collect(),
            tool_choice: r.tool_choice.as_ref().map(|c| match c {
                ToolChoice::None => ToolChoiceJson::None,
                ToolChoice::Auto => ToolChoiceJson::Auto,
                ToolChoice::Required => ToolChoiceJson::Required,
                ToolChoice::Named(n) => ToolChoiceJson::Named(n.clone()),
            }),
            parallel_tool_calls: r.parallel_tool_calls,
            response_format: r.response_format.as_ref().map(|f| match f {
                ResponseFormat::Text => FormatJson::Text,
                ResponseFormat::JsonObject => FormatJson::JsonObject,
                ResponseFormat::JsonSchema(s) => FormatJson::JsonSchema {
                    name: s.name.clone(),
                    description: s.description.clone(),
                    schema: s.schema.clone(),
                    strict: s.strict,
                },
                ResponseFormat::Regex(re) => FormatJson::Regex(re.clone()),
                ResponseFormat::Choice(c) => FormatJson::Choice(c.clone()),
                ResponseFormat::Grammar(g) => FormatJson::Grammar(g.clone()),
            }),
            recover_tool_calls: r.recover_tool_calls,
            split_reasoning: r.split_reasoning,
            extra_body: r.extra_body.clone(),
            timeout_ms: r.timeout_ms,
            routing_ticket: r.routing_ticket,
            request_id: r.request_id.clone(),
            priority: r.priority,
            session_id: r.session_id.clone(),
            cache_salt: r.cache_salt.clone(),
            logprobs: r.logprobs,
            continue_from: r.continue_from.as_ref().map(GeneratedJson::from),
        }
    }
}

impl From<&Message> for MessageJson {
    fn from(m: &Message) -> MessageJson {
        MessageJson {
            role: match m.role {
                Role::System => RoleJson::System,
                Role::User => RoleJson::User,
                Role::Assistant => RoleJson::Assistant,
                Role::Tool => RoleJson::Tool,
            },
            content: m.content.clone(),
            parts: m
                .parts
                .iter()
                .map(|p| match p {
                    ContentPart::Text(t) => PartJson::Text(t.clone()),
                    ContentPart::ImageUrl(u) => PartJson::ImageUrl(u.clone()),
                    ContentPart::Image(i) => PartJson::Image {
                        mime_type: i.mime_type.clone(),
                        base64: BASE64.encode(&i.bytes),
                    },
                })
                .collect(),
            name: m.name.clone(),
            tool_calls: m
                .tool_calls
                .iter()
                .map(|c| ToolCallJson {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    arguments: c.arguments.clone(),
                })
                .collect(),
            tool_call_id: m.tool_call_id.clone(),
        }
    }
}

impl TryFrom<RequestJson> for ChatRequest {
    type Error = String;

    fn try_from(r: RequestJson) -> Result<ChatRequest, String> {
        let s = r.sampling;
        Ok(ChatRequest {
            messages: r
                .messages
                .into_iter()
                .enumerate()
                .map(|(i, m)| message(m).map_err(|e| format!("messages[{i}]: {e}")))
                .collect::<Result<_, _>>()?,
            model: r.model,
            sampling: Sampling {
                temperature: s.temperature,
                top_p: s.top_p,
                top_k: s.top_k,
                min_p: s.min_p,
                max_tokens: s.max_tokens,
                stop: s.stop,
                seed: s.seed,
                presence_penalty: s.presence_penalty,
                frequency_penalty: s.frequency_penalty,
                repetition_penalty: s.repetition_penalty,
            },
            tools: r
                .tools
                .into_iter()
                .map(|t| ToolDefinition {
                    name: t.name,
                    description: t.description,
                    parameters: t.parameters,
                })
                .collect(),
            tool_choice: r.tool_choice.map(|c| match c {
                ToolChoiceJson::None => ToolChoice::None,
                ToolChoiceJson::Auto => ToolChoice::Auto,
                ToolChoiceJson::Required => ToolChoice::Required,
                ToolChoiceJson::Named(n) => ToolChoice::Named(n),
            }),
            parallel_tool_calls: r.parallel_tool_calls,
            response_format: r.response_format.map(|f| match f {
                FormatJson::Text => ResponseFormat::Text,
                FormatJson::JsonObject => ResponseFormat::JsonObject,
                FormatJson::JsonSchema {
                    name,
                    description,
                    schema,
                    strict,
                } => ResponseFormat::JsonSchema(JsonSchemaFormat {
                    name,
                    description,
                    schema,
                    strict,
                }),
                FormatJson::Regex(re) => ResponseFormat::Regex(re),
                FormatJson::Choice(c) => ResponseFormat::Choice(c),
                FormatJson::Grammar(g) => ResponseFormat::Grammar(g),
            }),
            recover_tool_calls: r.recover_tool_calls,
            split_reasoning: r.split_reasoning,
            extra_body: r.extra_body,
            timeout_ms: r.timeout_ms,
            routing_ticket: r.routing_ticket,
            request_id: r.request_id,
            priority: r.priority,
            session_id: r.session_id,
            cache_salt: r.cache_salt,
            logprobs: r.logprobs,
            continue_from: r.continue_from.map(Generated::from),
        })
    }
}

fn message(m: MessageJson) -> Result<Message, String> {
    let parts = m
        .parts
        .into_iter()
        .enumerate()
        .map(|(j, p)| {
            Ok(match p {
                PartJson::Text(t) => ContentPart::Text(t),
                PartJson::ImageUrl(u) => ContentPart::ImageUrl(u),
                PartJson::Image { mime_type, base64 } => ContentPart::Image(ImageData {
                    mime_type,
                    bytes: BASE64
                        .decode(base64.as_bytes())
                        .map_err(|e| format!("parts[{j}].image.base64: {e}"))?,
                }),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Message {
        role: match m.role {
            RoleJson::System => Role::System,
            RoleJson::User => Role::User,
            RoleJson::Assistant => Role::Assistant,
            RoleJson::Tool => Role::Tool,
        },
        content: m.content,
        parts,
        name: m.name,
        tool_calls: m
            .tool_calls
            .into_iter()
            .map(|c| ToolCall {
                id: c.id,
                name: c.name,
                arguments: c.arguments,
            })
            .collect(),
        tool_call_id: m.tool_call_id,
    })
}
