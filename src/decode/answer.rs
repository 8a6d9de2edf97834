//! A `RawAnswer` (what the server said, whole or assembled from a stream) decoded into the
//! `chat-response` record (what it means): reasoning split out of `<think>`, tool calls
//! decoded or recovered from text, JSON answers checked.

use crate::constraints::regex_check;
use crate::decode::tool_calls::{self, Decoded, IdSource, ToolNames};
use crate::decode::{json_output, reasoning, text_tools};
use crate::types::{ChatRequest, ChatResponse, Error, ErrorCode, FinishReason, ResponseFormat};
use crate::wire::completion::{RawAnswer, merge_reasoning};
use serde_json::Value;

/// What answer the caller asked for, checked on the client: a server that ignored
/// the constraint gives `invalid-output`, never unchecked text.
#[derive(Clone, Debug)]
pub enum Expected {
    None,
    Any,
    Schema(Value),
    /// One of these strings, exactly (surrounding whitespace allowed).
    Choice(Vec<String>),
    /// Text the whole of which matches this regex.
    Regex(String),
}

/// How to decode an answer, derived from its request.
#[derive(Clone, Debug)]
pub struct DecodeOptions {
    pub names: ToolNames,
    pub recover_tool_calls: bool,
    pub split_reasoning: bool,
    pub json: Expected,
}

impl DecodeOptions {
    pub fn for_request(req: &ChatRequest) -> DecodeOptions {
        let json = match &req.response_format {
            Some(ResponseFormat::JsonObject) => Expected::Any,
            Some(ResponseFormat::JsonSchema(s)) => {
                match serde_json::from_slice(s.schema.as_bytes()) {
                    Ok(schema) => Expected::Schema(schema),
                    Err(_) => Expected::Any,
                }
            }
            Some(ResponseFormat::Choice(c)) => Expected::Choice(c.clone()),
            Some(ResponseFormat::Regex(r)) => Expected::Regex(r.clone()),
            _ => Expected::None,
        };
        DecodeOptions {
            names: ToolNames::new(&req.tools),
            recover_tool_calls: req.recover_tool_calls.unwrap_or(true),
            split_reasoning: req.split_reasoning.unwrap_or(true),
            json,
        }
    }
}

/// Where the answer came from, for the record.
pub struct Served<'a> {
    pub backend: &'a str,
    pub requested_model: &'a str,
    pub attempts: u32,
    /// Backends that produced earlier parts of a resumed answer.
    pub earlier: &'a [String],
}

/// Turns what the server said into the response record. Fails only when JSON was asked for
/// and the content is not (schema-conforming) JSON: `invalid-output`, response in `partial`.
pub fn decode(
    raw: RawAnswer,
    opts: &DecodeOptions,
    ids: &mut dyn IdSource,
    served: &Served,
) -> Result<ChatResponse, Error> {
    let mut content = raw.content;
    let mut reasoning = raw.reasoning;
    if opts.split_reasoning
        && let Some((thought, rest)) = content.as_deref().and_then(reasoning::split)
    {
        reasoning = merge_reasoning(reasoning, Some(thought));
        content = Some(rest);
    }

    // Native calls are authoritative whatever finish_reason or content say.
    let mut raw_calls = raw.tool_calls;
    if raw_calls.is_empty()
        && opts.recover_tool_calls
        && content.as_deref().map_or(0, str::len) <= text_tools::MAX_SCANNED
        && let Some((found, rest)) = content
            .as_deref()
            .and_then(|c| text_tools::recover(c, &opts.names))
    {
        raw_calls = found;
        content = Some(rest);
    }
    let mut tool_calls = Vec::new();
    let mut invalid_tool_calls = Vec::new();
    for call in raw_calls {
        match tool_calls::decode(call, &opts.names, ids) {
            Decoded::Valid(c) => tool_calls.push(c),
            Decoded::Invalid(c) => invalid_tool_calls.push(c),
        }
    }
    if !(tool_calls.is_empty() && invalid_tool_calls.is_empty())
        && content.as_deref().is_some_and(|c| c.trim().is_empty())
    {
        content = None;
    }

    let mut finish_reason = raw.finish_reason.as_deref().map(finish_reason);
    // vLLM says `stop` for named / required calls; the calls are what count.
    if !tool_calls.is_empty() && matches!(finish_reason, Some(FinishReason::Stop) | None) {
        finish_reason = Some(FinishReason::ToolCalls);
    }

    let mut response = ChatResponse {
        id: raw.id,
        content,
        reasoning,
        tool_calls,
        invalid_tool_calls,
        finish_reason,
        usage: raw.usage,
        model: raw
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| served.requested_model.to_string()),
        backend: served.backend.to_string(),
        earlier_backends: served.earlier.to_vec(),
        logprobs: raw.logprobs,
        attempts: served.attempts,
    };
    if let Some(why) = raw.malformed {
        return Err(Error {
            backend: Some(response.backend.clone()),
            attempts: response.attempts,
            ..Error::malformed(why).with_partial(response)
        });
    }

    if !response.tool_calls.is_empty() {
        return Ok(response); // the model chose a tool instead of answering
    }
    let schema = match &opts.json {
        Expected::None => return Ok(response),
        Expected::Any => None,
        Expected::Schema(s) => Some(s),
        Expected::Choice(choices) => {
            let answer = response.content.as_deref().unwrap_or_default().trim();
            if choices.iter().any(|c| c == answer) {
                return Ok(response);
            }
            let why = format!(
                "the answer {:?} is not one of the choices {:?}; the server ignored the constraint (check the backend kind: `auto` detects it)",
                crate::errors::truncate(answer, 200),
                choices
            );
            return Err(invalid_output(response, why));
        }
        Expected::Regex(regex) => {
            let answer = response.content.as_deref().unwrap_or_default();
            if regex_check::matches(regex, answer) != Some(false) {
                return Ok(response);
            }
            let why = format!(
                "the answer {:?} does not match the regex `{regex}`; the server ignored the constraint (check the backend kind: `auto` detects it)",
                crate::errors::truncate(answer, 200),
            );
            return Err(invalid_output(response, why));
        }
    };
    let checked = json_output::extract(response.content.as_deref().unwrap_or_default()).and_then(
        |(text, value)| match (schema, value) {
            (Some(s), Some(value)) => json_output::check_schema(&value, s)
                .map(|_| text)
                .map_err(|why| format!("the answer does not follow the schema: {why}")),
            _ => Ok(text),
        },
    );
    match checked {
        Ok(text) => {
            response.content = Some(text);
            Ok(response)
        }
        Err(why) => {
            let hint = if response.finish_reason == Some(FinishReason::Length) {
                " (generation stopped at max-tokens; raise it)"
            } else {
                ""
            };
            Err(invalid_output(
                response,
                format!("JSON was asked for but {why}{hint}"),
            ))
        }
    }
}

/// `invalid-output` with the response kept as the partial.
fn invalid_output(response: ChatResponse, why: String) -> Error {
    Error {
        backend: Some(response.backend.clone()),
        attempts: response.attempts,
        ..Error::new(ErrorCode::InvalidOutput, why).with_partial(response)
    }
}

pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" | "eos" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        "abort" => FinishReason::Abort,
        other => FinishReason::Other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tool_calls::CountingIds;
    use crate::testing::{SERVED, request, user, with_tool};
    use crate::types::*;
    use crate::wire::completion::parse;

    fn chat(body: &str, req: &ChatRequest) -> Result<ChatResponse, Error> {
        let raw = parse(body.as_bytes())?;
        decode(
            raw,
            &DecodeOptions::for_request(req),
            &mut CountingIds::default(),
            &SERVED,
        )
    }

    fn with_tools() -> ChatRequest {
        with_tool("get_weather")
    }

    #[test]
    fn choice_and_regex_answers_are_checked_on_the_client() {
        let answer = |text: &str| {
            format!(
                r#"{{"choices":[{{"message":{{"content":"{text}"}},"finish_reason":"stop"}}]}}"#
            )
        };
        let mut req = request(vec![user("Is the sky blue?")]);
        req.response_format = Some(ResponseFormat::Choice(vec!["yes".into(), "no".into()]));
        assert_eq!(
            chat(&answer(" yes"), &req).unwrap().content.as_deref(),
            Some(" yes")
        );
        let e = chat(&answer("The sky is blue."), &req).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidOutput);
        assert!(
            e.message.contains("not one of the choices"),
            "{}",
            e.message
        );
        assert_eq!(
            e.partial.unwrap().content.as_deref(),
            Some("The sky is blue.")
        );

        req.response_format = Some(ResponseFormat::Regex("[0-9]+".into()));
        assert!(chat(&answer("4"), &req).is_ok());
        let e = chat(&answer("four"), &req).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidOutput);
        assert!(
            e.message.contains("does not match the regex"),
            "{}",
            e.message
        );
    }

    #[test]
    fn too_many_tool_calls_are_malformed_with_the_first_ones_kept() {
        let many = vec![r#"{"id":"c","function":{"name":"get_weather","arguments":"{}"}}"#; 1000];
        let body = format!(
            r#"{{"choices":[{{"message":{{"tool_calls":[{}]}},"finish_reason":"tool_calls"}}]}}"#,
            many.join(",")
        );
        let e = chat(&body, &with_tools()).unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedResponse);
        assert!(e.message.contains("1000 tool calls"), "{}", e.message);
        let partial = e.partial.unwrap();
        assert_eq!(
            partial.tool_calls.len(),
            crate::wire::completion::MAX_TOOL_CALLS
        );
    }

    #[test]
    fn text_answers_from_each_server() {
        // vLLM (new): no tool_calls key, reasoning field.
        let vllm = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"message":{"role":"assistant","content":"Hi!","reasoning":"think"},"finish_reason":"stop","stop_reason":null}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#;
        let r = chat(vllm, &request(vec![user("x")])).unwrap();
        assert_eq!(
            (r.content.as_deref(), r.reasoning.as_deref()),
            (Some("Hi!"), Some("think"))
        );
        assert_eq!(r.finish_reason, Some(FinishReason::Stop));
        assert_eq!(
            r.usage,
            Some(Usage {
                prompt_tokens: 5,
                completion_tokens: 2,
                total_tokens: 7,
                reasoning_tokens: None,
                cached_tokens: None,
            })
        );
        assert_eq!(
            (
                r.model.as_str(),
                r.backend.as_str(),
                r.attempts,
                r.id.as_deref()
            ),
            ("Qwen/Qwen3-8B", "b", 1, Some("chatcmpl-1"))
        );
        // Old vLLM: tool_calls [] and reasoning_content; SGLang: matched_stop, usage.reasoning_tokens.
        let sglang = r#"{"id":"x","object":"chat.completion","created":1,"model":"qwen","choices":[{"index":0,"message":{"role":"assistant","content":"Yo","reasoning_content":"r","tool_calls":null},"logprobs":null,"finish_reason":"stop","matched_stop":151645}],"usage":{"prompt_tokens":1,"total_tokens":3,"completion_tokens":2,"reasoning_tokens":1,"prompt_tokens_details":null}}"#;
        let r = chat(sglang, &request(vec![user("x")])).unwrap();
        assert_eq!(
            (r.content.as_deref(), r.reasoning.as_deref()),
            (Some("Yo"), Some("r"))
        );
        assert_eq!(r.usage.unwrap().reasoning_tokens, Some(1));
        // llama.cpp: timings; no id in some versions; model missing falls back to the request.
        let llama = r#"{"choices":[{"finish_reason":"length","index":0,"message":{"role":"assistant","content":"<think>a</think>b"}}],"created":1,"object":"chat.completion","usage":{"completion_tokens":16,"prompt_tokens":10,"total_tokens":26},"timings":{"predicted_ms":1.0}}"#;
        let r = chat(llama, &request(vec![user("x")])).unwrap();
        assert_eq!(
            (
                r.content.as_deref(),
                r.reasoning.as_deref(),
                r.model.as_str()
            ),
            (Some("b"), Some("a"), "m")
        );
        assert_eq!(r.finish_reason, Some(FinishReason::Length));
        // Both reasoning fields with the same text (vLLM 0.10).
        let both = r#"{"choices":[{"message":{"content":"x","reasoning":"same","reasoning_content":"same"}}]}"#;
        assert_eq!(
            chat(both, &request(vec![user("x")]))
                .unwrap()
                .reasoning
                .as_deref(),
            Some("same")
        );
        // Splitting can be turned off.
        let mut keep = request(vec![user("x")]);
        keep.split_reasoning = Some(false);
        assert_eq!(
            chat(llama, &keep).unwrap().content.as_deref(),
            Some("<think>a</think>b")
        );
    }

    #[test]
    fn native_tool_calls_win_over_finish_reason_and_empty_content() {
        // vLLM named call: finish_reason stop, content "".
        let body = r#"{"model":"m","choices":[{"message":{"role":"assistant","content":"","tool_calls":[{"id":"chatcmpl-tool-1","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}},{"id":"","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Rome\"}"}}]},"finish_reason":"stop"}]}"#;
        let r = chat(body, &with_tools()).unwrap();
        assert_eq!(r.content, None);
        assert_eq!(r.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(
            r.tool_calls,
            vec![
                ToolCall {
                    id: "chatcmpl-tool-1".into(),
                    name: "get_weather".into(),
                    arguments: "{\"city\": \"Paris\"}".into()
                },
                ToolCall {
                    id: "call_0".into(),
                    name: "get_weather".into(),
                    arguments: "{\"city\": \"Rome\"}".into()
                },
            ]
        );
    }

    #[test]
    fn bad_arguments_are_kept_as_invalid_calls() {
        let body = r#"{"choices":[{"message":{"tool_calls":[{"id":"a","function":{"name":"get_weather","arguments":"{\"city\": "}},{"id":"b","function":{"name":"get_weather","arguments":null}},{"id":"c","function":{"name":"get_weather","arguments":"\"{\\\"city\\\":\\\"X\\\"}\""}}]},"finish_reason":"tool_calls"}]}"#;
        let r = chat(body, &with_tools()).unwrap();
        assert_eq!(
            r.tool_calls,
            vec![ToolCall {
                id: "c".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"X"}"#.into()
            }]
        );
        assert_eq!(r.invalid_tool_calls.len(), 2);
        assert_eq!(r.invalid_tool_calls[0].raw_arguments, "{\"city\": ");
        assert!(r.invalid_tool_calls[0].error.contains("not valid JSON"));
        assert_eq!(r.invalid_tool_calls[1].raw_arguments, "null");
        assert!(r.invalid_tool_calls[1].error.contains("null"));
    }

    #[test]
    fn text_calls_are_recovered_only_when_offered_and_enabled() {
        // sglang#26790: finish_reason tool_calls, empty list, XML in content.
        let body = r#"{"choices":[{"message":{"content":"<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>","tool_calls":[]},"finish_reason":"tool_calls"}]}"#;
        let r = chat(body, &with_tools()).unwrap();
        assert_eq!(r.tool_calls.len(), 1);
        assert_eq!((r.content, r.tool_calls[0].id.as_str()), (None, "call_0"));
        let mut off = with_tools();
        off.recover_tool_calls = Some(false);
        assert!(chat(body, &off).unwrap().tool_calls.is_empty());
        assert!(
            chat(body, &request(vec![user("x")]))
                .unwrap()
                .tool_calls
                .is_empty()
        );
    }

    #[test]
    fn json_output_is_checked() {
        let mut r = request(vec![user("x")]);
        r.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: "c".into(),
            description: None,
            schema:
                r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#
                    .into(),
            strict: None,
        }));
        let ok = r#"{"choices":[{"message":{"content":"```json\n{\"city\": \"Paris\"}\n```"},"finish_reason":"stop"}]}"#;
        assert_eq!(
            chat(ok, &r).unwrap().content.as_deref(),
            Some("{\"city\": \"Paris\"}")
        );
        let wrong = r#"{"choices":[{"message":{"content":"{\"town\": \"Paris\"}"},"finish_reason":"stop"}]}"#;
        let e = chat(wrong, &r).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidOutput);
        assert!(
            e.message.contains("missing required property `city`"),
            "{}",
            e.message
        );
        assert_eq!(
            e.partial.unwrap().content.as_deref(),
            Some("{\"town\": \"Paris\"}")
        );
        r.response_format = Some(ResponseFormat::JsonObject);
        let cut =
            r#"{"choices":[{"message":{"content":"{\"city\": \"Par"},"finish_reason":"length"}]}"#;
        let e = chat(cut, &r).unwrap_err();
        assert!(e.message.contains("max-tokens"), "{}", e.message);
    }
}
