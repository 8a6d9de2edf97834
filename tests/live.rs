//! Live tests against a real llama.cpp `llama-server` (Gemma 3 270M on CPU), started once
//! per run by scripts/local-server. The model is tiny: assertions are on shape, constraints
//! and error kinds, never on what it knows.

mod support;

use futures::StreamExt;
use llm_core_host::types::*;
use serde_json::Value;
use support::*;

async fn live() -> llm_core_host::Client {
    let mut cfg = config(BackendKind::OpenaiCompatible, &live_url());
    cfg.timeouts.total_ms = Some(120_000);
    core().client(cfg).await.expect("live client")
}

fn short(text: &str, max_tokens: u32) -> ChatRequest {
    let mut r = ChatRequest::user(text);
    r.sampling.max_tokens = Some(max_tokens);
    r.sampling.temperature = Some(0.0);
    r.sampling.seed = Some(7);
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn text_chat() {
    let r = live().await.chat(short("Say hi", 12)).await.unwrap();
    assert!(r.content.as_deref().is_some_and(|c| !c.is_empty()), "{r:?}");
    let usage = r.usage.expect("llama.cpp reports usage");
    assert!(
        usage.prompt_tokens > 0 && usage.completion_tokens > 0 && usage.completion_tokens <= 12
    );
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );
    assert!(matches!(
        r.finish_reason,
        Some(FinishReason::Stop | FinishReason::Length)
    ));
    assert_eq!(r.model, "gemma-3-270m");
}

#[tokio::test(flavor = "multi_thread")]
async fn models_and_health() {
    let client = live().await;
    let models = client.list_models().await.unwrap();
    assert_eq!(
        models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["gemma-3-270m"]
    );
    assert_eq!(models[0].max_model_len, Some(4096));
    let health = client.health().await.unwrap();
    assert!(health[0].healthy, "{:?}", health[0].error);
    assert!(health[0].latency_ms.is_some());
    assert!(health[0].load.is_some(), "llama.cpp runs with --metrics");
    assert_eq!(health[0].models, ["gemma-3-270m"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_schema_output_parses_with_the_schemas_keys() {
    let mut r = short("Name a city and its country.", 80);
    r.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
        name: "city".into(),
        description: None,
        schema: include_str!("../examples/city.schema.json").into(),
        strict: Some(true),
    }));
    let client = live().await;
    let json = client.chat_with_json_output(r).await.unwrap();
    let value: Value = serde_json::from_str(&json).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["city", "country"], "{json}");
    assert!(value["city"].is_string() && value["country"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn choice_regex_and_grammar_constrain_the_output() {
    let client = live().await;
    let choices = vec!["red".to_string(), "green".to_string(), "blue".to_string()];
    for seed in 0..3 {
        let mut r = short("Pick a colour.", 8);
        r.sampling.temperature = Some(1.0);
        r.sampling.seed = Some(seed);
        r.response_format = Some(ResponseFormat::Choice(choices.clone()));
        let answer = client.chat(r).await.unwrap().content.unwrap();
        assert!(choices.contains(&answer), "{answer:?}");
    }

    let mut r = short("Give me a phone number.", 16);
    r.response_format = Some(ResponseFormat::Regex(r"\(\d{3}\) \d{3}-\d{4}".into()));
    let phone = client.chat(r).await.unwrap().content.unwrap();
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    assert_eq!(phone.len(), 14, "{phone:?}");
    assert_eq!(digits.len(), 10, "{phone:?}");
    assert!(
        phone.starts_with('(') && &phone[4..6] == ") " && &phone[9..10] == "-",
        "{phone:?}"
    );

    let mut r = short("Answer yes or no, twice.", 16);
    r.response_format = Some(ResponseFormat::Grammar(
        r#"root ::= answer ", " answer
answer ::= "yes" | "no""#
            .into(),
    ));
    let answer = client.chat(r).await.unwrap().content.unwrap();
    let parts: Vec<&str> = answer.split(", ").collect();
    assert_eq!(parts.len(), 2, "{answer:?}");
    assert!(
        parts.iter().all(|p| *p == "yes" || *p == "no"),
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn streamed_text_equals_the_concatenated_deltas() {
    let client = live().await;
    let mut stream = client
        .chat_stream(short("Count from one to ten.", 24))
        .await
        .unwrap();
    let mut deltas = String::new();
    let mut done = None;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            StreamEvent::Content(t) => deltas.push_str(&t),
            StreamEvent::Reasoning(_) | StreamEvent::ToolCall(_) => {}
            StreamEvent::Done(r) => done = Some(r),
        }
    }
    let done = done.expect("a final response");
    assert!(!deltas.is_empty());
    assert_eq!(done.content.as_deref(), Some(deltas.as_str()));
    let usage = done
        .usage
        .expect("usage chunk requested with stream_options.include_usage");
    assert!(usage.completion_tokens > 0 && usage.completion_tokens <= 24);
}

#[tokio::test(flavor = "multi_thread")]
async fn context_overflow_is_typed() {
    let prompt = "word ".repeat(20_000);
    let e = live().await.chat(short(&prompt, 8)).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ContextLengthExceeded, "{e:?}");
    assert_eq!(e.status, Some(400));
    assert!(e.body.unwrap().contains("exceed_context_size_error"));
    assert_eq!(e.attempts, 1, "not retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_or_missing_key_is_unauthorized() {
    let url = start_local_server(&["--name", "auth", "--", "--api-key", "sekret-live-key"]);
    let mut cfg = config(BackendKind::OpenaiCompatible, &url);
    cfg.default_model = Some("gemma-3-270m".into());
    let client = core().client(cfg.clone()).await.unwrap();
    let e = client.chat(short("hi", 4)).await.unwrap_err();
    assert_eq!((e.code, e.status), (ErrorCode::Unauthorized, Some(401)));
    assert!(e.message.contains("Invalid API Key"), "{}", e.message);

    cfg.backends[0].api_key = Some("sekret-live-key".into());
    let client = core().client(cfg).await.unwrap();
    assert!(client.chat(short("hi", 4)).await.is_ok());
}
