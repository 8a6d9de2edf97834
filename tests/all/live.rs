//! Live tests against a real llama.cpp `llama-server` (Gemma 3 270M on CPU), started once
//! per run by scripts/local-server. The model is tiny: assertions are on shape, constraints
//! and error kinds, never on what it knows.

use crate::cli::{llm_core, stderr, stdout};
use crate::support::*;
use futures::StreamExt;
use llm_core_host::types::*;
use serde_json::Value;

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
    let _turn = live_turn().await;
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
    let _turn = live_turn().await;
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
    let _turn = live_turn().await;
    let mut r = short("Name a city and its country.", 80);
    r.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
        name: "city".into(),
        description: None,
        schema: include_str!("../../examples/city.schema.json").into(),
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
    let _turn = live_turn().await;
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
    let _turn = live_turn().await;
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
            StreamEvent::Reasoning(_) | StreamEvent::ToolCall(_) | StreamEvent::Logprobs(_) => {}
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
    let _turn = live_turn().await;
    let prompt = "word ".repeat(20_000);
    let e = live().await.chat(short(&prompt, 8)).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ContextLengthExceeded, "{e:?}");
    assert_eq!(e.status, Some(400));
    assert!(e.body.unwrap().contains("exceed_context_size_error"));
    assert_eq!(e.attempts, 1, "not retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_or_missing_key_is_unauthorized() {
    let _turn = live_turn().await;
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

fn weather_tool() -> ToolDefinition {
    ToolDefinition::new(
        "get_weather",
        "Get the weather for a city",
        serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
}

/// A llama.cpp instance whose chat template knows tools (Qwen 2.5's Hermes-style format).
/// With `tool_choice: required` its grammar still lets a tiny model ramble before the call,
/// so the request prefills the call marker as the last assistant turn (llama.cpp continues
/// a final assistant message) and stops at the closing tag: a native `tool_calls` answer.
async fn tool_server() -> llm_core_host::Client {
    let template = format!(
        "{}/models/templates/Qwen-Qwen2.5-7B-Instruct.jinja",
        local_server_path("LLAMA_SRC")
    );
    let url = start_local_server(&["--name", "tools", "--", "--chat-template-file", &template]);
    let mut cfg = config(BackendKind::OpenaiCompatible, &url);
    cfg.timeouts.total_ms = Some(120_000);
    core().client(cfg).await.unwrap()
}

fn forced_call(question: &str) -> ChatRequest {
    let mut r = short(question, 60);
    r.messages.push(Message::assistant("<tool_call>\n"));
    r.tools = vec![weather_tool()];
    r.tool_choice = Some(ToolChoice::Required);
    r.parallel_tool_calls = Some(false);
    r.sampling.stop = vec!["</tool_call>".into()];
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn native_tool_call_then_result_then_answer() {
    let _turn = live_turn().await;
    let client = tool_server().await;
    let calls = client
        .chat_with_tool_call_output(forced_call("What is the weather in Paris?"))
        .await
        .unwrap();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].name, "get_weather");
    assert!(!calls[0].id.is_empty());
    let args: Value = serde_json::from_str(&calls[0].arguments).unwrap();
    assert!(
        args["city"].as_str().is_some_and(|c| !c.is_empty()),
        "{args}"
    );

    // The result goes back in the OpenAI shape; the server renders it and answers in text.
    let mut follow_up = short("What is the weather in Paris?", 24);
    follow_up
        .messages
        .push(Message::assistant_calls(calls.clone()));
    follow_up.messages.push(Message::tool_result(
        calls[0].id.clone(),
        r#"{"weather": "sunny", "temperature_c": 22}"#,
    ));
    let answer = client.chat(follow_up).await.unwrap();
    assert!(answer.tool_calls.is_empty());
    assert!(answer.content.is_some_and(|c| !c.is_empty()));
}

#[tokio::test(flavor = "multi_thread")]
async fn native_tool_call_streamed() {
    let _turn = live_turn().await;
    let client = tool_server().await;
    let mut stream = client
        .chat_stream(forced_call("What is the weather in Oslo?"))
        .await
        .unwrap();
    let mut fragments = String::new();
    let mut done = None;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            StreamEvent::ToolCall(d) => {
                assert_eq!(d.index, 0);
                fragments.push_str(&d.arguments);
            }
            StreamEvent::Done(r) => done = Some(r),
            _ => {}
        }
    }
    let done = done.unwrap();
    assert_eq!(done.tool_calls.len(), 1);
    assert_eq!(done.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(
        serde_json::from_str::<Value>(&fragments).unwrap(),
        serde_json::from_str::<Value>(&done.tool_calls[0].arguments).unwrap(),
        "the deltas add up to the assembled arguments"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_written_as_text_is_recovered() {
    let _turn = live_turn().await;
    // The server gets no tools (extra-body `tools: null`) and a grammar that makes the model
    // write a Hermes call as plain text, as a server without a tool parser would return it.
    let mut r = short("What is the weather in Paris?", 60);
    r.tools = vec![weather_tool()];
    r.extra_body = Some(
        serde_json::json!({
            "tools": null,
            "grammar": r#"root ::= "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"" [A-Za-z ]{1,20} "\"}}\n</tool_call>""#,
        })
        .to_string(),
    );
    let response = live().await.chat(r).await.unwrap();
    assert_eq!(response.tool_calls.len(), 1, "{response:?}");
    assert_eq!(response.tool_calls[0].name, "get_weather");
    assert!(response.tool_calls[0].id.starts_with("call_"));
    assert_eq!(response.content, None, "the call text left the content");
    assert_eq!(response.finish_reason, Some(FinishReason::ToolCalls));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_streams_tokens_and_a_summary() {
    let _turn = live_turn().await;
    let url = live_url();
    let o = llm_core(&[
        "chat",
        "--base-url",
        &url,
        "--backend",
        "openai",
        "--stream",
        "--max-tokens",
        "8",
        "--temperature",
        "0",
        "--seed",
        "1",
        "Count to three.",
    ])
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).trim().is_empty(), "tokens were printed");
    let summary = stderr(&o);
    for part in [
        "ms to first token",
        "tokens/s",
        " prompt",
        " completion tokens",
        "finish: ",
        "backend 127.0.0.1:",
    ] {
        assert!(summary.contains(part), "{part} in {summary}");
    }
}

// ---- generation control, live ----------------------------------------------------------

/// Content deltas (as a list) and the final record of a stream, taking at most `stop_after`
/// content events when given (then the stream is returned for suspension).
async fn take_events(
    stream: &mut llm_core_host::ChatStream,
    stop_after: Option<usize>,
) -> (Vec<String>, Option<ChatResponse>) {
    let mut deltas = Vec::new();
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            StreamEvent::Content(t) => {
                deltas.push(t);
                if stop_after.is_some_and(|n| deltas.len() >= n) {
                    return (deltas, None);
                }
            }
            StreamEvent::Done(r) => return (deltas, Some(r)),
            _ => {}
        }
    }
    (deltas, None)
}

/// Suspends a greedy generation after k events for a spread of k, resumes it on the same
/// server, and compares the whole answer with the uninterrupted one. Every resumed answer
/// must be one answer that starts with exactly what was delivered before the suspension;
/// how many equal the uninterrupted answer is measured (printed), not asserted: retokenizing
/// at a cut can change what comes next. LLM_CORE_RESUME_POINTS / LLM_CORE_RESUME_TOKENS set
/// the spread (default 6 points of a 48-token answer; the note's figure used 20 and 120).
#[tokio::test(flavor = "multi_thread")]
async fn suspended_greedy_generations_resume_into_one_answer() {
    let _turn = live_turn().await;
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (points, tokens) = (
        env("LLM_CORE_RESUME_POINTS", 6),
        env("LLM_CORE_RESUME_TOKENS", 48),
    );
    let client = live().await;
    let request = short(
        "Write a short story about a robot learning to paint.",
        tokens as u32,
    );
    let mut whole = client.chat_stream(request.clone()).await.unwrap();
    let (deltas, done) = take_events(&mut whole, None).await;
    let reference = done.expect("a final record").content.unwrap_or_default();
    assert_eq!(deltas.concat(), reference);
    let n = deltas.len();
    assert!(n >= 4, "a long enough answer to cut: {n} events");
    let mut equal = 0;
    let cuts: Vec<usize> = (1..=points)
        .map(|i| (i * (n - 1) / (points + 1)).max(1))
        .collect();
    for &k in &cuts {
        let mut stream = client.chat_stream(request.clone()).await.unwrap();
        let (before, _) = take_events(&mut stream, Some(k)).await;
        let checkpoint = stream.suspend().await.unwrap();
        assert_eq!(
            checkpoint.generated.content,
            before.concat(),
            "cut after {k} events"
        );
        let mut resumed = client.resume(checkpoint).await.unwrap();
        let (after, done) = take_events(&mut resumed, None).await;
        let done = done.expect("the resumed stream ends with a record");
        let text = done.content.clone().unwrap_or_default();
        assert_eq!(
            text,
            format!("{}{}", before.concat(), after.concat()),
            "one answer, nothing repeated or lost"
        );
        assert_eq!(done.earlier_backends.len(), 1);
        equal += usize::from(text == reference);
    }
    eprintln!(
        "resume after suspension: {equal} of {} resumed greedy answers equal the uninterrupted one ({n} events, {tokens} tokens)",
        cuts.len()
    );
}

/// Two llama.cpp servers, `priority` routing, a long greedy answer: the first server is
/// killed (SIGKILL) mid-stream; the stream completes from the second, its text starting with
/// exactly what was streamed before the kill.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_mid_stream_is_replaced_without_losing_text() {
    let _turn = live_turn().await;
    let a = start_local_server(&["--name", "failover-a"]);
    let b = start_local_server(&["--name", "failover-b"]);
    let mut cfg = config(BackendKind::OpenaiCompatible, &a);
    cfg.backends
        .push(BackendConfig::new(BackendKind::OpenaiCompatible, b.clone()));
    cfg.routing = Some(RoutingStrategy::Priority);
    cfg.timeouts.total_ms = Some(120_000);
    let client = core().client(cfg).await.unwrap();
    let mut stream = client
        .chat_stream(short("Count from one to one hundred, in words.", 96))
        .await
        .unwrap();
    let (before, _) = take_events(&mut stream, Some(5)).await;
    let pid_file = std::path::Path::new(&local_server_path("CACHE")).join("run/failover-a/pid");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (after, done) = take_events(&mut stream, None).await;
    let done = done.expect("the stream completes from the second server");
    let text = done.content.clone().unwrap_or_default();
    assert!(
        text.starts_with(&before.concat()),
        "{text:?} starts with {:?}",
        before.concat()
    );
    assert_eq!(text, format!("{}{}", before.concat(), after.concat()));
    assert_eq!(done.earlier_backends.len(), 1, "{done:?}");
    assert_ne!(done.backend, done.earlier_backends[0]);
    for name in ["failover-a", "failover-b"] {
        let _ = std::process::Command::new(repo_root().join("scripts/local-server"))
            .args(["stop", "--name", name])
            .status();
    }
}

// ---- beyond chat, live -----------------------------------------------------------------

/// The server's own count for a request equals the prompt tokens it reports when the same
/// request is sent for real.
#[tokio::test(flavor = "multi_thread")]
async fn token_counts_match_the_prompt_tokens_of_the_real_request() {
    let _turn = live_turn().await;
    let client = live().await;
    let mut req = short("Name three colours.", 4);
    req.messages.insert(0, Message::system("You are terse."));
    let count = client.count_tokens(req.clone()).await.unwrap();
    let real = client.chat(req).await.unwrap();
    assert_eq!(count.prompt_tokens, real.usage.unwrap().prompt_tokens);
    assert!(count.max_model_len.is_some_and(|n| n >= 512), "{count:?}");
}

/// Greedy decoding picks the most likely token: the top alternative is the chosen one.
#[tokio::test(flavor = "multi_thread")]
async fn greedy_logprobs_name_the_chosen_token_first() {
    let _turn = live_turn().await;
    let mut req = short("Say hi", 4);
    req.logprobs = Some(3);
    let r = live().await.chat(req).await.unwrap();
    assert!(!r.logprobs.is_empty(), "{r:?}");
    for t in &r.logprobs {
        assert!(t.logprob <= 0.0 && t.top.len() <= 3 && !t.top.is_empty());
        assert_eq!(t.top[0].token, t.token, "{t:?}");
    }
    assert_eq!(
        r.logprobs
            .iter()
            .map(|t| t.token.as_str())
            .collect::<String>(),
        r.content.unwrap_or_default()
    );
}

/// Embeddings from a llama.cpp server started with `--embeddings`: one vector per input,
/// in order, equal for equal texts.
#[tokio::test(flavor = "multi_thread")]
async fn embeddings_from_a_live_server() {
    let _turn = live_turn().await;
    let url = start_local_server(&[
        "--name",
        "embeddings",
        "--",
        "--embeddings",
        "--pooling",
        "mean",
    ]);
    let client = core()
        .client(config(BackendKind::OpenaiCompatible, &url))
        .await
        .unwrap();
    let e = client
        .embed(EmbedRequest {
            inputs: vec![
                "a red apple".into(),
                "a cold night".into(),
                "a red apple".into(),
            ],
            model: None,
            dimensions: None,
            batch_size: Some(2),
            timeout_ms: None,
        })
        .await
        .unwrap();
    assert_eq!(e.vectors.len(), 3);
    assert!(e.vectors[0].len() >= 64, "{}", e.vectors[0].len());
    // Batched differently, equal texts agree to float noise; different texts do not.
    let cosine = |a: &[f32], b: &[f32]| {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        dot / (norm(a) * norm(b))
    };
    let same = cosine(&e.vectors[0], &e.vectors[2]);
    let other = cosine(&e.vectors[0], &e.vectors[1]);
    assert!(same > 0.9999 && other < same, "same {same}, other {other}");
    assert_eq!(e.attempts, 2, "two batches");
    let _ = std::process::Command::new(repo_root().join("scripts/local-server"))
        .args(["stop", "--name", "embeddings"])
        .status();
}

/// Dropping a stream stops the server's generation: llama.cpp's `/metrics` shows no request
/// processing within a few seconds, long before the answer's 400 tokens would have taken.
#[tokio::test(flavor = "multi_thread")]
async fn dropping_a_stream_stops_the_servers_generation() {
    let _turn = live_turn().await;
    let url = live_url();
    let metrics_url = format!("{}/metrics", url.trim_end_matches("/v1"));
    let processing = || {
        let out = std::process::Command::new("curl")
            .args(["-s", "--max-time", "5", &metrics_url])
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("llamacpp:requests_processing "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .expect("llama.cpp reports requests_processing")
    };
    let client = live().await;
    let mut stream = client
        .chat_stream(short("Write a long story about the sea.", 400))
        .await
        .unwrap();
    let (first, _) = take_events(&mut stream, Some(3)).await;
    assert_eq!(first.len(), 3);
    assert!(processing() >= 1.0, "the server is generating");
    let dropped = std::time::Instant::now();
    drop(stream);
    while processing() >= 1.0 {
        assert!(
            dropped.elapsed() < std::time::Duration::from_secs(10),
            "the server kept generating after the stream was dropped"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    eprintln!("generation stopped {:?} after the drop", dropped.elapsed());
}
