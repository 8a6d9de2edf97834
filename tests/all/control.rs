//! Generation control through the component, on replayed vLLM and SGLang shapes: request
//! ids, priority (and a server that refuses it), suspend and resume, failover mid-stream,
//! and cancelling an SGLang request by its `rid`. The live counterparts are in `live`.

use crate::support::*;
use futures::StreamExt;
use llm_core_host::types::*;
use replay_server::{ReplayServer, Reply, replies};
use std::time::Duration;

/// Content deltas up to `Done` (or the error).
async fn drain(mut s: llm_core_host::ChatStream) -> (String, Result<ChatResponse, Error>) {
    let mut text = String::new();
    while let Some(item) = s.next().await {
        match item {
            Ok(StreamEvent::Content(t)) => text.push_str(&t),
            Ok(StreamEvent::Done(r)) => return (text, Ok(r)),
            Ok(_) => {}
            Err(e) => return (text, Err(e)),
        }
    }
    panic!("the stream ended without Done or an error");
}

#[tokio::test(flavor = "multi_thread")]
async fn sglang_gets_rid_negated_priority_and_an_abort_when_the_stream_is_dropped() {
    let server = ReplayServer::start().await;
    let parts = [
        replies::event(&replies::content_chunk("a")),
        replies::event(&replies::content_chunk("b")),
    ];
    server.on(CHAT, Reply::sse_raw(parts).delayed(Duration::from_secs(30)));
    server.on("/abort_request", Reply::text(200, ""));
    let client = client(BackendKind::Sglang, &server.base_url()).await;
    let mut req = ask("hi");
    req.priority = Some(2);
    req.request_id = Some("agent-1-turn-4".into());
    let mut stream = client.chat_stream(req).await.unwrap();
    assert!(matches!(stream.next().await, Some(Ok(StreamEvent::Content(t))) if t == "a"));
    drop(stream);
    let sent = server.requests_to(CHAT).pop().unwrap();
    assert_eq!(sent.header("x-request-id"), Some("agent-1-turn-4"));
    let body = sent.json();
    assert_eq!(
        (body["rid"].as_str(), body["priority"].as_i64()),
        (Some("agent-1-turn-4"), Some(-2))
    );
    // The abort is posted while the instance is released: give it a moment.
    for _ in 0..100 {
        if !server.requests_to("/abort_request").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let abort = server.requests_to("/abort_request");
    assert_eq!(abort.len(), 1, "SGLang is told to stop");
    assert_eq!(abort[0].json()["rid"], "agent-1-turn-4");
}

#[tokio::test(flavor = "multi_thread")]
async fn vllm_without_priority_scheduling_gets_the_request_again_without_priority() {
    let (server, client) = vllm().await;
    server.push(
        CHAT,
        Reply::status_json(
            400,
            r#"{"object":"error","message":"Got priority 5 but Priority scheduling is not enabled.","type":"BadRequestError","code":400}"#,
        ),
    );
    server.on(CHAT, replies::text("ok"));
    let mut req = ask("hi");
    req.priority = Some(5);
    assert_eq!(
        client.chat(req.clone()).await.unwrap().content.as_deref(),
        Some("ok")
    );
    client.chat(req).await.unwrap();
    let bodies: Vec<_> = server.requests_to(CHAT).iter().map(|r| r.json()).collect();
    assert_eq!(bodies[0]["priority"], 5);
    assert!(bodies[1..].iter().all(|b| b.get("priority").is_none()));
    assert!(bodies.iter().all(|b| {
        b["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("llmcore-"))
    }));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suspended_vllm_stream_resumes_as_one_answer() {
    let (server, client) = vllm().await;
    server.push(
        CHAT,
        Reply::sse_raw([
            replies::event(&replies::content_chunk("The quick ")),
            replies::event(&replies::content_chunk("brown ")),
        ])
        .delayed(Duration::from_millis(300)),
    );
    let mut stream = client.chat_stream(ask("a sentence")).await.unwrap();
    assert!(matches!(stream.next().await, Some(Ok(StreamEvent::Content(t))) if t == "The quick "));
    let checkpoint = stream.suspend().await.unwrap();
    assert_eq!(checkpoint.generated.content, "The quick ");
    // Plain data: through JSON and back, as a host would hand it to another process.
    let checkpoint = roundtrip(checkpoint);

    server.push(CHAT, replies::stream(&["brown ", "fox."]));
    let (text, done) = drain(client.resume(checkpoint).await.unwrap()).await;
    let done = done.unwrap();
    assert_eq!(text, "brown fox.");
    assert_eq!(done.content.as_deref(), Some("The quick brown fox."));
    assert_eq!(done.earlier_backends.len(), 1);
    let body = server.last().json();
    let last = body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["role"].as_str(), last["content"].as_str()),
        (Some("assistant"), Some("The quick "))
    );
    assert_eq!(body["continue_final_message"], true);
    assert_eq!(body["add_generation_prompt"], false);
}

/// A checkpoint through a JSON-like copy of every field (what a host's serialisation does).
fn roundtrip(c: Checkpoint) -> Checkpoint {
    let g = c.generated;
    Checkpoint {
        request: c.request.clone(),
        generated: Generated {
            content: g.content.chars().collect(),
            reasoning: g.reasoning.chars().collect(),
            usage: g.usage,
            backends: g.backends.to_vec(),
            attempts: g.attempts,
        },
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backend_cut_mid_stream_is_continued_on_the_next_without_losing_a_token() {
    let first = ReplayServer::start().await;
    let second = ReplayServer::start().await;
    first.on(
        CHAT,
        Reply::sse_raw([
            replies::event(&replies::content_chunk("One, two, ")),
            replies::event(&replies::content_chunk("three, ")),
            replies::event(&replies::content_chunk("never sent")),
        ])
        // Apart, so the events are read before the reset (a reset discards unread bytes).
        .delayed(Duration::from_millis(150))
        .cut_after(2),
    );
    second.on(CHAT, replies::stream(&["four, ", "five."]));
    let mut cfg = config(BackendKind::Vllm, &first.base_url());
    cfg.backends
        .push(BackendConfig::new(BackendKind::Sglang, second.base_url()));
    cfg.routing = Some(RoutingStrategy::Priority);
    let client = core().client(cfg).await.unwrap();
    let (text, done) = drain(client.chat_stream(ask("count")).await.unwrap()).await;
    let done = done.unwrap();
    assert_eq!(text, "One, two, three, four, five.");
    assert_eq!(done.content.as_deref(), Some(text.as_str()));
    assert_eq!(done.earlier_backends, vec![first.addr().to_string()]);
    assert_eq!(done.backend, second.addr().to_string());
    let body = second.last().json();
    let last = body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["content"], "One, two, three, ");
    assert_eq!(body["continue_final_message"], true);
    assert!(
        body.get("add_generation_prompt").is_none(),
        "SGLang has no such field"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn at_the_concurrency_limit_queued_calls_start_by_priority() {
    let server = ReplayServer::start().await;
    let host = core_with(llm_core_host::HostOptions {
        max_concurrent_calls: 1,
        ..Default::default()
    });
    let client = host
        .client(config(BackendKind::Vllm, &server.base_url()))
        .await
        .unwrap();
    // The first call holds the only slot for a while; the others queue behind it.
    server.push(
        CHAT,
        replies::text("first").after(Duration::from_millis(600)),
    );
    server.on(CHAT, replies::text("ok"));
    let first = {
        let c = client.clone();
        tokio::spawn(async move { c.chat(ask("first")).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut queued = Vec::new();
    for (name, priority) in [("low", 9), ("urgent", -1), ("normal", 0), ("urgent-2", -1)] {
        let c = client.clone();
        let mut req = ask(name);
        req.priority = Some(priority);
        queued.push(tokio::spawn(async move { c.chat(req).await }));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    first.await.unwrap().unwrap();
    for q in queued {
        q.await.unwrap().unwrap();
    }
    let order: Vec<String> = server
        .requests_to(CHAT)
        .iter()
        .map(|r| {
            r.json()["messages"][0]["content"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(order, ["first", "urgent", "urgent-2", "normal", "low"]);
}
