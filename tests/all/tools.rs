//! Tool calls, structured output and reasoning through the component, against replayed
//! vLLM (old and new), SGLang and llama.cpp answers: what is sent and what is decoded.

use crate::support::*;
use llm_core_host::types::*;
use replay_server::{ReplayServer, Reply, replies};
use serde_json::{Value, json};

fn weather_tool() -> ToolDefinition {
    ToolDefinition::new(
        "get_weather",
        "Get the weather for a city",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
}

fn with_tools(tools: Vec<ToolDefinition>) -> ChatRequest {
    let mut r = ask("What is the weather in Paris?");
    r.tools = tools;
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_and_tool_choice_are_sent_in_the_openai_shape() {
    let (server, client) = vllm().await;
    server.on(CHAT, Reply::json(fixture("vllm-named-tool-call.json")));
    for (choice, sent) in [
        (ToolChoice::Auto, json!("auto")),
        (ToolChoice::Required, json!("required")),
        (ToolChoice::None, json!("none")),
        (
            ToolChoice::Named("get_weather".into()),
            json!({"type": "function", "function": {"name": "get_weather"}}),
        ),
    ] {
        let mut r = with_tools(vec![weather_tool()]);
        r.tool_choice = Some(choice);
        r.parallel_tool_calls = Some(true);
        client.chat(r).await.unwrap();
        let body = server.last().json();
        assert_eq!(body["tool_choice"], sent);
        assert_eq!(body["parallel_tool_calls"], json!(true));
        assert_eq!(
            body["tools"],
            json!([{"type": "function", "function": {
                "name": "get_weather",
                "description": "Get the weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
            }}])
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn native_calls_count_whatever_finish_reason_and_content_say() {
    let (server, client) = vllm().await;
    // vLLM named call: finish_reason "stop", content "" (AIOS drops these calls).
    server.push(CHAT, Reply::json(fixture("vllm-named-tool-call.json")));
    let r = client.chat(with_tools(vec![weather_tool()])).await.unwrap();
    assert_eq!(
        r.tool_calls,
        [ToolCall {
            id: "chatcmpl-tool-5a1b".into(),
            name: "get_weather".into(),
            arguments: r#"{"city": "Paris", "unit": "celsius"}"#.into()
        }]
    );
    assert_eq!(
        (r.content, r.finish_reason),
        (None, Some(FinishReason::ToolCalls))
    );

    // Several calls, one without an id: all kept, an id generated.
    server.push(
        CHAT,
        replies::finished(
            json!({"content": "Checking both.", "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
            ]}),
            "tool_calls",
        ),
    );
    let r = client.chat(with_tools(vec![weather_tool()])).await.unwrap();
    assert_eq!(r.tool_calls.len(), 2);
    assert!(
        r.tool_calls[1].id.starts_with("call_") && r.tool_calls[1].id.len() > 10,
        "{}",
        r.tool_calls[1].id
    );
    assert_eq!(r.content.as_deref(), Some("Checking both."));
}

#[tokio::test(flavor = "multi_thread")]
async fn arguments_that_are_not_an_object_are_kept_as_invalid_calls() {
    let (server, client) = vllm().await;
    server.push(
        CHAT,
        replies::finished(
            json!({"tool_calls": [
                {"id": "bad", "function": {"name": "get_weather", "arguments": "{\"city\": \"Par"}},
                {"id": "null", "function": {"name": "get_weather", "arguments": null}},
                {"id": "wrapped", "function": {"name": "get_weather", "arguments": "\"{\\\"city\\\": \\\"Oslo\\\"}\""}},
                {"id": "list", "function": {"name": "get_weather", "arguments": "[1, 2]"}}
            ]}),
            "tool_calls",
        ),
    );
    let r = client.chat(with_tools(vec![weather_tool()])).await.unwrap();
    assert_eq!(
        r.tool_calls,
        [ToolCall {
            id: "wrapped".into(),
            name: "get_weather".into(),
            arguments: r#"{"city": "Oslo"}"#.into()
        }]
    );
    let invalid: Vec<(&str, &str)> = r
        .invalid_tool_calls
        .iter()
        .map(|c| (c.id.as_str(), c.raw_arguments.as_str()))
        .collect();
    assert_eq!(
        invalid,
        [
            ("bad", "{\"city\": \"Par"),
            ("null", "null"),
            ("list", "[1, 2]")
        ]
    );
    assert!(r.invalid_tool_calls.iter().all(|c| !c.error.is_empty()));

    // chat-with-tool-call-output makes an invalid call a typed error that keeps the response.
    server.push(CHAT, replies::finished(json!({"tool_calls": [{"id": "bad", "function": {"name": "get_weather", "arguments": "{"}}]}), "tool_calls"));
    let e = client
        .chat_with_tool_call_output(with_tools(vec![weather_tool()]))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidOutput);
    assert!(e.message.contains("get_weather"), "{}", e.message);
    assert_eq!(e.partial.unwrap().invalid_tool_calls[0].raw_arguments, "{");
}

#[tokio::test(flavor = "multi_thread")]
async fn aios_names_with_slashes_travel_as_double_underscores() {
    let (server, client) = vllm().await;
    let tool = ToolDefinition::new(
        "fs/read_file",
        "Read a file",
        json!({"type": "object", "properties": {"path": {"type": "string"}}}),
    );
    server.push(CHAT, replies::finished(json!({"content": null, "tool_calls": [{"id": "c", "function": {"name": "fs__read_file", "arguments": "{\"path\":\"/etc/hosts\"}"}}]}), "tool_calls"));
    let mut r = with_tools(vec![tool]);
    r.tool_choice = Some(ToolChoice::Named("fs/read_file".into()));
    let calls = client.chat_with_tool_call_output(r).await.unwrap();
    assert_eq!(calls[0].name, "fs/read_file");
    let body = server.last().json();
    assert_eq!(body["tools"][0]["function"]["name"], json!("fs__read_file"));
    assert_eq!(
        body["tool_choice"]["function"]["name"],
        json!("fs__read_file")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_call_result_answer_loop() {
    let (server, client) = vllm().await;
    server.push(CHAT, Reply::json(fixture("vllm-named-tool-call.json")));
    server.push(CHAT, replies::text("It is 18°C in Paris."));

    let mut request = with_tools(vec![weather_tool()]);
    let calls = client
        .chat_with_tool_call_output(request.clone())
        .await
        .unwrap();
    request
        .messages
        .push(Message::assistant_calls(calls.clone()));
    for call in &calls {
        request.messages.push(Message::tool_result(
            call.id.clone(),
            r#"{"temperature_c": 18}"#,
        ));
    }
    let answer = client.chat(request).await.unwrap();
    assert_eq!(answer.content.as_deref(), Some("It is 18°C in Paris."));
    assert!(answer.tool_calls.is_empty());

    let second = server.requests_to(CHAT)[1].json();
    assert_eq!(
        second["messages"][1],
        json!({"role": "assistant", "tool_calls": [{"id": "chatcmpl-tool-5a1b", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"unit\": \"celsius\"}"}}]})
    );
    assert_eq!(
        second["messages"][2],
        json!({"role": "tool", "content": "{\"temperature_c\": 18}", "tool_call_id": "chatcmpl-tool-5a1b"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_left_in_the_text_are_recovered() {
    let (server, client) = vllm().await;
    let tools = vec![
        weather_tool(),
        ToolDefinition::new("fs/read", "Read", json!({"type": "object"})),
    ];
    let cases: Vec<(Reply, &str, Option<&str>)> = vec![
        // sglang#26790: finish_reason tool_calls, empty list, Qwen3-Coder XML in content.
        (
            Reply::json(fixture("sglang-xml-tool-call.json")),
            r#"{"city":"Paris"}"#,
            None,
        ),
        (
            replies::text(
                "Let me look.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
            ),
            r#"{"city":"Paris"}"#,
            Some("Let me look."),
        ),
        (
            replies::text(
                "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}",
            ),
            r#"{"city":"Paris"}"#,
            None,
        ),
        (
            replies::text("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}"),
            r#"{"city":"Paris"}"#,
            None,
        ),
        (
            replies::text(
                "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]",
            ),
            r#"{"city":"Paris"}"#,
            None,
        ),
        (
            replies::text("[TOOL_CALLS]get_weather{\"city\": \"Paris\"}"),
            r#"{"city":"Paris"}"#,
            None,
        ),
    ];
    for (reply, args, rest) in cases {
        server.push(CHAT, reply);
        let r = client.chat(with_tools(tools.clone())).await.unwrap();
        assert_eq!(r.tool_calls.len(), 1, "{r:?}");
        assert_eq!(r.tool_calls[0].name, "get_weather");
        let parsed: Value = serde_json::from_str(&r.tool_calls[0].arguments).unwrap();
        assert_eq!(parsed.to_string(), args);
        assert_eq!(r.content.as_deref(), rest);
        assert_eq!(r.finish_reason, Some(FinishReason::ToolCalls));
    }

    // Text that names an unknown tool, or merely mentions one, stays content.
    for text in [
        "<tool_call>{\"name\": \"rm_rf\", \"arguments\": {}}</tool_call>",
        "Use get_weather with {\"city\": \"Paris\"} to find out.",
    ] {
        server.push(CHAT, replies::text(text));
        let r = client.chat(with_tools(tools.clone())).await.unwrap();
        assert!(r.tool_calls.is_empty());
        assert_eq!(r.content.as_deref(), Some(text));
    }

    // Recovery can be turned off per request.
    server.push(CHAT, Reply::json(fixture("sglang-xml-tool-call.json")));
    let mut off = with_tools(tools.clone());
    off.recover_tool_calls = Some(false);
    let r = client.chat(off).await.unwrap();
    assert!(r.tool_calls.is_empty() && r.content.unwrap().contains("<function=get_weather>"));
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_is_checked_and_unfenced() {
    let (server, client) = vllm().await;
    server.push(CHAT, replies::text("```json\n{\"city\": \"Paris\"}\n```"));
    assert_eq!(
        client.chat_with_json_output(ask("city?")).await.unwrap(),
        r#"{"city": "Paris"}"#
    );
    assert_eq!(
        server.last().json()["response_format"],
        json!({"type": "json_object"})
    );

    server.push(CHAT, replies::text("Sure! The city is Paris."));
    let e = client
        .chat_with_json_output(ask("city?"))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidOutput);
    assert_eq!(
        e.partial.unwrap().content.as_deref(),
        Some("Sure! The city is Paris.")
    );

    let mut r = ask("city?");
    r.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
        name: "city".into(),
        description: Some("A city".into()),
        schema: include_str!("../../examples/city.schema.json").into(),
        strict: Some(true),
    }));
    server.push(CHAT, replies::text("{\"city\": \"Paris\"}"));
    let e = client.chat(r.clone()).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidOutput);
    assert!(
        e.message.contains("missing required property `country`"),
        "{}",
        e.message
    );
    let sent = server.last().json();
    assert_eq!(sent["response_format"]["type"], json!("json_schema"));
    assert_eq!(
        sent["response_format"]["json_schema"]["name"],
        json!("city")
    );
    assert_eq!(
        sent["response_format"]["json_schema"]["strict"],
        json!(true)
    );

    server.push(
        CHAT,
        replies::text("{\"city\": \"Paris\", \"country\": \"France\"}"),
    );
    assert_eq!(
        client.chat(r).await.unwrap().content.as_deref(),
        Some(r#"{"city": "Paris", "country": "France"}"#)
    );
}

/// The request body fields a constraint became, for one backend kind.
async fn constraint_fields(kind: BackendKind, legacy: bool, format: ResponseFormat) -> Value {
    let server = ReplayServer::start().await;
    server.on(CHAT, replies::text("a"));
    let mut cfg = config(kind, &server.base_url());
    cfg.backends[0].legacy_guided_decoding = Some(legacy);
    let client = core().client(cfg).await.unwrap();
    let mut r = ask("x");
    r.response_format = Some(format);
    // Only the request matters here; the reply "a" fails the client-side check of some.
    let _ = client.chat(r).await;
    let mut body = server.last().json();
    let fields = body.as_object_mut().unwrap();
    fields.remove("model");
    fields.remove("messages");
    // The call's id (vLLM `request_id`, SGLang `rid`) is not a constraint field.
    fields.remove("request_id");
    fields.remove("rid");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn constraints_are_mapped_per_backend_kind() {
    use BackendKind::*;
    let regex = || ResponseFormat::Regex("[0-9]+".into());
    let choice = || ResponseFormat::Choice(vec!["yes".into(), "no".into()]);
    let grammar = || ResponseFormat::Grammar("root ::= \"a\"".into());
    let cases = [
        (
            Vllm,
            false,
            regex(),
            json!({"structured_outputs": {"regex": "[0-9]+"}}),
        ),
        (Vllm, true, regex(), json!({"guided_regex": "[0-9]+"})),
        (Sglang, false, regex(), json!({"regex": "[0-9]+"})),
        (
            OpenaiCompatible,
            false,
            regex(),
            json!({"grammar": "root ::= ([0-9])+"}),
        ),
        (
            Vllm,
            false,
            choice(),
            json!({"structured_outputs": {"choice": ["yes", "no"]}}),
        ),
        (
            Vllm,
            true,
            choice(),
            json!({"guided_choice": ["yes", "no"]}),
        ),
        (Sglang, false, choice(), json!({"regex": "(yes|no)"})),
        (
            OpenaiCompatible,
            false,
            choice(),
            json!({"grammar": "root ::= \"yes\" | \"no\""}),
        ),
        (
            Vllm,
            false,
            grammar(),
            json!({"structured_outputs": {"grammar": "root ::= \"a\""}}),
        ),
        (
            Vllm,
            true,
            grammar(),
            json!({"guided_grammar": "root ::= \"a\""}),
        ),
        (Sglang, false, grammar(), json!({"ebnf": "root ::= \"a\""})),
        (
            OpenaiCompatible,
            false,
            grammar(),
            json!({"grammar": "root ::= \"a\""}),
        ),
    ];
    for (kind, legacy, format, expected) in cases {
        assert_eq!(
            constraint_fields(kind, legacy, format.clone()).await,
            expected,
            "{kind:?} legacy={legacy} {format:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn what_a_backend_cannot_express_is_refused_before_sending() {
    let server = ReplayServer::start().await;
    let client = core()
        .client(config(BackendKind::OpenaiCompatible, &server.base_url()))
        .await
        .unwrap();
    let mut r = with_tools(vec![weather_tool()]);
    r.response_format = Some(ResponseFormat::Choice(vec!["a".into()]));
    let e = client.chat(r).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(e.message.contains("together with tools"), "{}", e.message);
    let mut r = ask("x");
    r.response_format = Some(ResponseFormat::Regex("(?=lookahead)".into()));
    let e = client.chat(r).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn reasoning_from_fields_or_think_tags() {
    let (server, client) = vllm().await;
    for (message, reasoning, content) in [
        (json!({"content": "A", "reasoning": "R1"}), "R1", "A"),
        (
            json!({"content": "A", "reasoning_content": "R2"}),
            "R2",
            "A",
        ),
        (
            json!({"content": "A", "reasoning": "R3", "reasoning_content": "R3"}),
            "R3",
            "A",
        ),
        (json!({"content": "<think>\nR4\n</think>\n\nA"}), "R4", "A"),
        (json!({"content": "R5\n</think>\n\nA"}), "R5", "A"),
        (
            json!({"content": "The closing tag is </think>."}),
            "",
            "The closing tag is </think>.",
        ),
    ] {
        server.push(CHAT, replies::completion(message));
        let r = client.chat(ask("x")).await.unwrap();
        assert_eq!(
            (r.reasoning.as_deref(), r.content.as_deref()),
            ((!reasoning.is_empty()).then_some(reasoning), Some(content))
        );
    }
    server.push(CHAT, replies::text("<think>R</think>A"));
    let mut keep = ask("x");
    keep.split_reasoning = Some(false);
    let r = client.chat(keep).await.unwrap();
    assert_eq!(
        (r.reasoning, r.content.as_deref()),
        (None, Some("<think>R</think>A"))
    );
}
