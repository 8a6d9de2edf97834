//! Hostile and broken servers, in one place so the next case is easy to add: each answer
//! below once leaked a key, trapped the component or lost what was received. Every case
//! ends in a correct answer or a typed error, with nothing leaked and the partial kept.

use crate::support::*;
use bytes::Bytes;
use llm_core_host::types::*;
use replay_server::{ReplayServer, Reply, replies};
use std::time::{Duration, Instant};

const KEY: &str = "sk-hostile-test-key-0123456789";

/// A vLLM client of `server` that sends [`KEY`].
async fn keyed(server: &ReplayServer) -> llm_core_host::Client {
    let mut cfg = config(BackendKind::Vllm, &server.base_url());
    cfg.backends[0].api_key = Some(KEY.into());
    cfg.retry.max_attempts = Some(1);
    core().client(cfg).await.expect("valid config")
}

fn assert_no_key(what: &str, text: &str) {
    assert!(!text.contains(KEY), "{what} leaks the key: {text}");
}

async fn stream_all(
    client: &llm_core_host::Client,
    req: ChatRequest,
) -> (String, Result<ChatResponse, Error>) {
    use futures::StreamExt;
    let mut stream = match client.chat_stream(req).await {
        Ok(s) => s,
        Err(e) => return (String::new(), Err(e)),
    };
    let mut shown = String::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(StreamEvent::Done(r)) => return (shown, Ok(r)),
            Ok(StreamEvent::Content(t)) => shown.push_str(&t),
            Ok(_) => {}
            Err(e) => return (shown, Err(e)),
        }
    }
    panic!("the stream ended without Done or an error");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_echoing_the_key_never_makes_it_appear() {
    let server = ReplayServer::start().await;
    let client = keyed(&server).await;
    let echo = format!("Authorization: Bearer {KEY}");

    // In a 401 body, in a 200 without choices, in a streamed error event.
    server.push(CHAT, Reply::text(401, echo.clone()));
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Unauthorized, "{e:?}");
    assert_no_key("a 401 error", &format!("{e:?}"));
    assert!(format!("{e:?}").contains("[redacted]"), "{e:?}");

    server.push(
        CHAT,
        Reply::json(format!(r#"{{"error":{{"message":"{echo}"}}}}"#)),
    );
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::MalformedResponse, "{e:?}");
    assert_no_key("a 200 without choices", &format!("{e:?}"));

    server.push(
        CHAT,
        Reply::sse(&[
            &replies::content_chunk(&format!("partial {KEY} text")),
            &format!(r#"{{"error":{{"message":"{echo}","code":500}}}}"#),
        ]),
    );
    let (shown, result) = stream_all(&client, ask("hi")).await;
    let e = result.unwrap_err();
    assert_no_key("streamed deltas", &shown);
    assert_no_key("a streamed error event", &format!("{e:?}"));
    assert_eq!(
        e.partial.and_then(|p| p.content).as_deref(),
        Some("partial [redacted] text")
    );

    // In generated text, whole and streamed (split across deltas).
    server.push(CHAT, replies::text(&format!("the key is {KEY}.")));
    let r = client.chat(ask("hi")).await.unwrap();
    assert_eq!(r.content.as_deref(), Some("the key is [redacted]."));
    let (head, tail) = KEY.split_at(9);
    server.push(CHAT, replies::stream(&["the key is ", head, tail, "."]));
    let (shown, result) = stream_all(&client, ask("hi")).await;
    assert_eq!(shown, "the key is [redacted].");
    assert_no_key("the final record", &format!("{:?}", result.unwrap()));
}

#[tokio::test(flavor = "multi_thread")]
async fn user_info_and_queries_in_a_base_url_are_never_echoed() {
    for url in [
        format!("http://u:{KEY}@127.0.0.1:9/v1?x=1"),
        format!("http://u:{KEY}@127.0.0.1:9 /v1"),
        format!("ftp://u:{KEY}@127.0.0.1:9/v1"),
        format!("http://127.0.0.1:9/v1?token={KEY}"),
    ] {
        let Err(e) = core().client(config(BackendKind::Vllm, &url)).await else {
            panic!("{url} was accepted");
        };
        assert_eq!(e.code, ErrorCode::InvalidConfig, "{url}: {e:?}");
        assert_no_key("an invalid-config error", &format!("{e:?}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn server_chosen_counts_and_indices_are_bounded_not_allocated() {
    let (server, client) = vllm().await;
    // 600,000 empty tool calls in one completion.
    let calls = vec!["{}"; 600_000].join(",");
    server.push(
        CHAT,
        Reply::json(format!(
            r#"{{"choices":[{{"message":{{"content":"c","tool_calls":[{calls}]}},"finish_reason":"tool_calls"}}]}}"#
        )),
    );
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::MalformedResponse, "{}", e.message);
    assert!(e.message.contains("600000 tool calls"), "{}", e.message);
    assert!(e.partial.is_some());

    // A stream of 20,000 chunks each naming tool call 4,000,000,000.
    let mut parts = vec![replies::event(&replies::content_chunk("before"))];
    let huge = r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":4000000000,"function":{"arguments":"x"}}]}}]}"#;
    parts.extend((0..20_000).map(|_| replies::event(huge)));
    server.push(CHAT, Reply::sse_raw(parts));
    let (_, result) = stream_all(&client, ask("hi")).await;
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::MalformedResponse, "{}", e.message);
    assert_eq!(e.partial.and_then(|p| p.content).as_deref(), Some("before"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_near_the_default_cap_fit_and_larger_ones_are_refused_with_what_came() {
    let (server, client) = vllm().await;
    // Just under the default 16 MiB cap: a completion, and one single SSE event.
    let big = "x".repeat(15 << 20);
    server.push(CHAT, replies::text(&big));
    let r = client.chat(ask("hi")).await.unwrap();
    assert_eq!(r.content.map(|c| c.len()), Some(15 << 20));
    server.push(CHAT, replies::stream(&[&big]));
    let (shown, result) = stream_all(&client, ask("hi")).await;
    assert_eq!(
        (shown.len(), result.unwrap().content.map(|c| c.len())),
        (15 << 20, Some(15 << 20))
    );

    // 30 MiB: refused at the cap, a typed error, the instance unharmed.
    server.push(CHAT, replies::text(&"y".repeat(30 << 20)));
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::LimitExceeded, "{e:?}");
    assert!(e.message.contains("max-response-bytes"), "{}", e.message);

    // The chunk that crosses the cap: the events complete before it are kept.
    let head = replies::event(&replies::content_chunk("kept"));
    let filler = replies::event(&replies::content_chunk(&"z".repeat(17 << 20)));
    server.push(CHAT, Reply::sse_raw([format!("{head}{filler}")]));
    let (shown, result) = stream_all(&client, ask("hi")).await;
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::LimitExceeded, "{e:?}");
    assert_eq!(shown, "kept");
    assert_eq!(e.partial.and_then(|p| p.content).as_deref(), Some("kept"));

    server.push(CHAT, replies::text("still fine"));
    assert!(client.chat(ask("hi")).await.is_ok(), "the host still works");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quarter_million_newline_deltas_stream_in_linear_time() {
    let server = ReplayServer::start().await;
    let mut cfg = config(BackendKind::Vllm, &server.base_url());
    cfg.max_response_bytes = Some(64 << 20); // ~18 MB of events: the cap is not the subject
    let host = core_with(llm_core_host::HostOptions {
        max_response_bytes: 64 << 20,
        ..Default::default()
    });
    let client = host.client(cfg).await.unwrap();
    let newline = Bytes::from(replies::event(&replies::content_chunk("\n")));
    let mut parts = vec![newline; 250_000];
    parts.push(Bytes::from(replies::event(&replies::content_chunk("done"))));
    parts.push(Bytes::from(replies::event(&replies::finish_chunk("stop"))));
    parts.push(Bytes::from(replies::event("[DONE]")));
    server.push(CHAT, Reply::sse_raw(parts));
    let started = Instant::now();
    let (_, result) = stream_all(&client, ask("hi")).await;
    let r = result
        .map_err(|e| e.message)
        .expect("no CPU limit: per-delta work is O(delta)");
    eprintln!("250,000 newline deltas streamed in {:?}", started.elapsed());
    assert_eq!(r.content.as_deref().map(str::trim), Some("done"));
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_ignores_constraints_gives_invalid_output_with_the_text() {
    let (server, client) = vllm().await;
    server.push(CHAT, replies::text("The sky is blue."));
    let mut req = ask("Is the sky blue?");
    req.response_format = Some(ResponseFormat::Choice(vec!["yes".into(), "no".into()]));
    let e = client.chat(req).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidOutput, "{e:?}");
    assert_eq!(
        e.partial.and_then(|p| p.content).as_deref(),
        Some("The sky is blue.")
    );

    server.push(CHAT, replies::text("four"));
    let mut req = ask("2 + 2?");
    req.response_format = Some(ResponseFormat::Regex("[0-9]+".into()));
    let e = client.chat(req).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidOutput, "{e:?}");

    // Schema bounds above 2^32 do not wrap on wasm32.
    server.push(CHAT, replies::text("[1]"));
    let mut req = ask("a list");
    req.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
        name: "l".into(),
        description: None,
        schema: r#"{"type":"array","maxItems":4294967296}"#.into(),
        strict: None,
    }));
    assert_eq!(
        client.chat(req).await.unwrap().content.as_deref(),
        Some("[1]")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_auto_backend_learns_its_family_from_the_model_list() {
    let server = ReplayServer::start().await;
    server.on(
        "/v1/models",
        Reply::json(r#"{"object":"list","data":[{"id":"m","owned_by":"sglang"}]}"#),
    );
    server.on(CHAT, replies::text("yes"));
    let client = core()
        .client(config(BackendKind::Auto, &server.base_url()))
        .await
        .unwrap();
    let mut req = ask("Is the sky blue?");
    req.response_format = Some(ResponseFormat::Choice(vec!["yes".into(), "no".into()]));
    client.chat(req).await.unwrap();
    let sent = server.requests_to(CHAT).pop().unwrap().json();
    assert_eq!(sent["regex"], "(yes|no)", "SGLang's field: {sent}");
}

/// How much instance memory a near-cap answer needs: a whole answer is held about twice (the
/// bytes, then the text), so 15 MiB fits in a 32 MiB instance. (A stream holds a huge single
/// event about three times — the event's data, the assembled text, the delivered delta — which
/// the default 16 MiB cap in a 64 MiB instance allows: see the test above.)
/// LLM_CORE_MEMORY_PROBE_MIB tries another limit.
#[tokio::test(flavor = "multi_thread")]
async fn a_whole_answer_near_the_cap_is_held_about_twice() {
    let mib: usize = std::env::var("LLM_CORE_MEMORY_PROBE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let server = ReplayServer::start().await;
    let host = core_with(llm_core_host::HostOptions {
        max_memory_bytes: mib << 20,
        ..Default::default()
    });
    let client = host
        .client(config(BackendKind::Vllm, &server.base_url()))
        .await
        .unwrap();
    server.push(CHAT, replies::text(&"x".repeat(15 << 20)));
    let whole = client
        .chat(ask("hi"))
        .await
        .map(|r| r.content.map(|c| c.len()));
    assert_eq!(whole.map_err(|e| e.message).unwrap(), Some(15 << 20));
}
