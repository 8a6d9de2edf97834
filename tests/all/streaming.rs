//! Streaming through the component: recorded streams in each server's shape, every chunking
//! of the bytes, faults (cuts, silence, bad bytes, huge and endless streams), cancellation.

use crate::support::*;
use bytes::Bytes;
use futures::StreamExt;
use llm_core_host::ChatStream;
use llm_core_host::types::*;
use replay_server::replies::{self, chunk, content_chunk, endless_content, event, finish_chunk};
use replay_server::{ReplayServer, Reply};
use serde_json::json;
use std::time::Duration;

/// Drains a stream: the deltas as (content, reasoning), all events, and how it ended.
async fn drain(
    mut stream: ChatStream,
) -> (
    String,
    String,
    Vec<StreamEvent>,
    Result<ChatResponse, Error>,
) {
    let (mut content, mut reasoning, mut events) = (String::new(), String::new(), Vec::new());
    while let Some(item) = stream.next().await {
        match item {
            Ok(StreamEvent::Done(r)) => return (content, reasoning, events, Ok(r)),
            Ok(e) => {
                match &e {
                    StreamEvent::Content(t) => content.push_str(t),
                    StreamEvent::Reasoning(t) => reasoning.push_str(t),
                    _ => {}
                }
                events.push(e);
            }
            Err(e) => return (content, reasoning, events, Err(e)),
        }
    }
    panic!("the stream ended without Done or an error");
}

fn sse_parts(fixture_text: &str) -> Vec<String> {
    fixture_text
        .split_inclusive("\n\n")
        .map(str::to_string)
        .collect()
}

fn tools_request() -> ChatRequest {
    let mut r = ask("weather?");
    r.tools = vec![ToolDefinition::new(
        "get_weather",
        "Weather",
        json!({"type": "object", "properties": {"city": {"type": "string"}}}),
    )];
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn asks_for_a_stream_with_usage_and_reads_llamacpp() {
    let (server, client) = vllm().await;
    // llama.cpp as captured, with keep-alive comment pings mixed in.
    let mut parts = sse_parts(&fixture("llamacpp-stream.sse"));
    parts.insert(1, ": ping\n\n".into());
    parts.insert(4, ":\r\n\r\n".into());
    server.on(CHAT, Reply::sse_raw(parts));
    let (content, _, events, done) = drain(client.chat_stream(ask("Say hi")).await.unwrap()).await;
    let done = done.unwrap();

    let sent = server.last();
    assert_eq!(sent.json()["stream"], json!(true));
    assert_eq!(
        sent.json()["stream_options"],
        json!({"include_usage": true})
    );
    assert_eq!(sent.header("accept"), Some("text/event-stream"));

    assert_eq!(content, "Say hi<|im_");
    assert_eq!(done.content.as_deref(), Some(content.as_str()));
    assert_eq!(
        done.usage.map(|u| (u.prompt_tokens, u.completion_tokens)),
        Some((26, 6))
    );
    assert_eq!(done.finish_reason, Some(FinishReason::Length));
    assert_eq!(done.model, "gemma-3-270m");
    assert_eq!(events.len(), 6, "one event per non-empty delta: {events:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_call_deltas_are_assembled_for_vllm_and_sglang() {
    let (server, client) = vllm().await;
    for file in [
        "vllm-stream-tools.sse",
        "sglang-stream-tools.sse",
        "llamacpp-stream-tools.sse",
    ] {
        server.push(CHAT, Reply::sse_raw(sse_parts(&fixture(file))));
        let (_, _, events, done) = drain(client.chat_stream(tools_request()).await.unwrap()).await;
        let done = done.unwrap();
        assert_eq!(done.tool_calls.len(), 1, "{file}");
        assert_eq!(done.tool_calls[0].name, "get_weather");
        let args: serde_json::Value = serde_json::from_str(&done.tool_calls[0].arguments).unwrap();
        assert_eq!(args, json!({"city": "Paris"}), "{file}");
        assert!(!done.tool_calls[0].id.is_empty());
        assert_eq!(done.finish_reason, Some(FinishReason::ToolCalls));
        assert!(done.usage.is_some());
        let deltas: Vec<&ToolCallDelta> = events
            .iter()
            .filter_map(|e| {
                if let StreamEvent::ToolCall(d) = e {
                    Some(d)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(deltas[0].name.as_deref(), Some("get_weather"));
        assert!(deltas.iter().all(|d| d.index == 0));
        let joined: String = deltas.iter().map(|d| d.arguments.as_str()).collect();
        assert_eq!(joined, done.tool_calls[0].arguments, "{file}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_byte_split_gives_the_same_final_response() {
    let (server, client) = vllm().await;
    let body = [
        chunk(
            json!({"role": "assistant", "content": "", "reasoning_content": "Thinking… ✓"}),
            None,
        ),
        content_chunk("Héllo "),
        content_chunk("wörld 🦀"),
        finish_chunk("stop"),
        replies::usage_chunk(3, 4),
        replies::DONE.to_string(),
    ]
    .iter()
    .map(|p| format!("data: {p}\r\n\r\n"))
    .collect::<String>();
    let bytes = body.as_bytes();
    server.push(CHAT, Reply::sse_raw(vec![body.clone()]));
    let whole = drain(client.chat_stream(ask("x")).await.unwrap())
        .await
        .3
        .unwrap();
    assert_eq!(
        (whole.content.as_deref(), whole.reasoning.as_deref()),
        (Some("Héllo wörld 🦀"), Some("Thinking… ✓"))
    );

    // Two parts split at every byte (the delay keeps TCP from joining them again).
    for i in 1..bytes.len() {
        let parts = vec![
            Bytes::copy_from_slice(&bytes[..i]),
            Bytes::copy_from_slice(&bytes[i..]),
        ];
        server.push(
            CHAT,
            Reply::sse_raw(parts).delayed(Duration::from_micros(200)),
        );
        let r = drain(client.chat_stream(ask("x")).await.unwrap())
            .await
            .3
            .unwrap();
        assert_eq!(r, whole, "split at byte {i}");
    }
    // Random chunkings (deterministic xorshift), down to single bytes.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..20 {
        let mut parts = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = (1 + seed % if round < 5 { 3 } else { 60 }).min(rest.len() as u64) as usize;
            parts.push(Bytes::copy_from_slice(&rest[..n]));
            rest = &rest[n..];
        }
        server.push(CHAT, Reply::sse_raw(parts));
        let r = drain(client.chat_stream(ask("x")).await.unwrap())
            .await
            .3
            .unwrap();
        assert_eq!(r, whole, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_event_after_the_200_keeps_the_partial_answer() {
    let (server, client) = vllm().await;
    server.on(
        CHAT,
        Reply::sse(&[
            &content_chunk("The answer is"),
            &replies::error_body(500, "The engine is overloaded"),
            replies::DONE,
        ]),
    );
    let (content, _, _, end) = drain(client.chat_stream(ask("x")).await.unwrap()).await;
    let e = end.unwrap_err();
    assert_eq!(e.code, ErrorCode::HttpStatus);
    assert!(
        e.message.contains("mid-stream") && e.message.contains("overloaded"),
        "{}",
        e.message
    );
    assert_eq!(e.partial.unwrap().content.as_deref(), Some("The answer is"));
    assert_eq!(content, "The answer is");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_without_done_or_finish_reason_is_truncated() {
    let (server, client) = vllm().await;
    server.on(CHAT, Reply::sse(&[&content_chunk("Half an ans")]));
    let e = drain(client.chat_stream(ask("x")).await.unwrap())
        .await
        .3
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Truncated);
    assert_eq!(e.partial.unwrap().content.as_deref(), Some("Half an ans"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_cut_mid_stream_keeps_the_partial_answer() {
    let (server, client) = vllm().await;
    let parts = [
        content_chunk("Once "),
        content_chunk("upon"),
        content_chunk(" a time"),
    ];
    let parts: Vec<String> = parts.iter().map(|p| event(p)).collect();
    server.on(
        CHAT,
        Reply::sse_raw(parts)
            .delayed(Duration::from_millis(20))
            .cut_after(2),
    );
    let (content, _, _, end) = drain(client.chat_stream(ask("x")).await.unwrap()).await;
    let e = end.unwrap_err();
    assert_eq!(e.code, ErrorCode::Connection, "{e:?}");
    assert_eq!(e.partial.unwrap().content.as_deref(), Some("Once upon"));
    assert_eq!(content, "Once upon");
}

#[tokio::test(flavor = "multi_thread")]
async fn silence_past_the_between_bytes_timeout_keeps_the_partial_answer() {
    let server = ReplayServer::start().await;
    let mut cfg = config(BackendKind::Vllm, &server.base_url());
    cfg.timeouts.between_bytes_ms = Some(200);
    let client = core().client(cfg).await.unwrap();
    let parts = vec![event(&content_chunk("drip")), event(&content_chunk("drop"))];
    server.on(CHAT, Reply::sse_raw(parts).delayed(Duration::from_secs(3)));
    let e = drain(client.chat_stream(ask("x")).await.unwrap())
        .await
        .3
        .unwrap_err();
    assert_eq!(
        e.code,
        ErrorCode::Timeout(TimeoutKind::BetweenBytes),
        "{e:?}"
    );
    assert_eq!(e.partial.unwrap().content.as_deref(), Some("drip"));
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_utf8_and_a_10_mb_event() {
    let (server, client) = vllm().await;
    let mut bad = event(&content_chunk("ab")).into_bytes();
    let at = bad.windows(2).position(|w| w == b"ab").unwrap();
    bad[at] = 0xff;
    let tail = event(&finish_chunk("stop")) + &event(replies::DONE);
    server.push(CHAT, Reply::sse_raw([Bytes::from(bad), Bytes::from(tail)]));
    let r = drain(client.chat_stream(ask("x")).await.unwrap())
        .await
        .3
        .unwrap();
    assert_eq!(r.content.as_deref(), Some("\u{fffd}b"));

    let big = "z".repeat(10 << 20);
    server.push(CHAT, replies::stream(&[&big]));
    let r = drain(client.chat_stream(ask("x")).await.unwrap())
        .await
        .3
        .unwrap();
    assert_eq!(r.content.map(|c| c.len()), Some(10 << 20));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_stream_hits_the_response_cap_with_its_partial_answer() {
    let server = ReplayServer::start().await;
    let mut cfg = config(BackendKind::Vllm, &server.base_url());
    cfg.max_response_bytes = Some(256 * 1024);
    let client = core().client(cfg).await.unwrap();
    server.on(CHAT, endless_content("more more ", Duration::ZERO));
    let (content, _, _, end) = drain(client.chat_stream(ask("x")).await.unwrap()).await;
    let e = end.unwrap_err();
    assert_eq!(e.code, ErrorCode::LimitExceeded, "{e:?}");
    let partial = e.partial.unwrap().content.unwrap();
    assert!(
        partial.len() > 10_000 && partial.starts_with("more more"),
        "{}",
        partial.len()
    );
    assert_eq!(
        content, partial,
        "every delta the caller saw is in the partial answer"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_a_stream_cancels_its_request() {
    let (server, client) = vllm().await;
    server.on(CHAT, endless_content("tick ", Duration::from_millis(20)));
    let mut stream = client.chat_stream(ask("x")).await.unwrap();
    for _ in 0..3 {
        assert!(matches!(
            stream.next().await,
            Some(Ok(StreamEvent::Content(_)))
        ));
    }
    assert_eq!(server.open_connections(), 1);
    drop(stream);
    let mut waited = 0;
    while server.open_connections() > 0 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    assert_eq!(
        server.open_connections(),
        0,
        "the server saw the connection close"
    );
    // The client still works (the dropped instance is replaced).
    server.on(CHAT, replies::stream(&["ok"]));
    assert_eq!(
        client
            .chat_stream(ask("x"))
            .await
            .unwrap()
            .collect_response()
            .await
            .unwrap()
            .content
            .as_deref(),
        Some("ok")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_streams_do_not_block_each_other() {
    let (server, client) = vllm().await;
    server.push(CHAT, endless_content(".", Duration::from_millis(50)));
    let mut endless = client.chat_stream(ask("x")).await.unwrap();
    assert!(matches!(
        endless.next().await,
        Some(Ok(StreamEvent::Content(_)))
    ));
    // While the endless stream is open, others start and finish.
    server.on(CHAT, replies::stream(&["done"]));
    for _ in 0..3 {
        let r = client
            .chat_stream(ask("x"))
            .await
            .unwrap()
            .collect_response()
            .await
            .unwrap();
        assert_eq!(r.content.as_deref(), Some("done"));
    }
    assert!(
        matches!(endless.next().await, Some(Ok(StreamEvent::Content(_)))),
        "still streaming"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_before_the_first_event_are_retried() {
    let (server, client) = vllm().await;
    server.push(
        CHAT,
        Reply::status_json(503, r#"{"error":{"message":"warming up"}}"#),
    );
    server.push(
        CHAT,
        Reply::sse_raw(vec![event(&content_chunk("lost"))]).cut_after(0),
    );
    server.push(CHAT, replies::stream(&["third time"]));
    let r = client
        .chat_stream(ask("x"))
        .await
        .unwrap()
        .collect_response()
        .await
        .unwrap();
    assert_eq!((r.content.as_deref(), r.attempts), (Some("third time"), 3));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_json_answer_to_a_stream_request_is_replayed_as_events() {
    let (server, client) = vllm().await;
    server.on(CHAT, Reply::json(fixture("vllm-chat.json")));
    let (content, reasoning, _, done) = drain(client.chat_stream(ask("x")).await.unwrap()).await;
    assert_eq!(
        (content.as_str(), reasoning.as_str()),
        ("Hello! How can I help?", "The user greets me.")
    );
    assert_eq!(done.unwrap().usage.map(|u| u.total_tokens), Some(31));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pollable_path_delivers_the_same_stream() {
    let (server, client) = vllm().await;
    server.on(
        CHAT,
        replies::stream(&["one ", "two"]).delayed(Duration::from_millis(30)),
    );
    let mut stream = client.chat_stream(ask("x")).await.unwrap();
    let mut text = String::new();
    let mut polls = 0;
    let done = loop {
        stream.ready().await.unwrap();
        polls += 1;
        let mut done = None;
        // Content may come in the same batch as `Done`: take it before stopping.
        for e in stream.next_ready().await.unwrap() {
            match e {
                StreamEvent::Content(t) => text.push_str(&t),
                StreamEvent::Done(r) => done = Some(r),
                _ => {}
            }
        }
        if let Some(r) = done {
            break r;
        }
        assert!(polls < 50, "the pollable never reported the end");
    };
    assert_eq!(
        (text.as_str(), done.content.as_deref()),
        ("one two", Some("one two"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pollable_path_enforces_the_call_deadline() {
    let (server, client) = vllm().await;
    server.on(CHAT, endless_content("drip ", Duration::from_millis(50)));
    let mut request = ask("x");
    request.timeout_ms = Some(600);
    let started = std::time::Instant::now();
    let mut stream = client.chat_stream(request).await.unwrap();
    let mut text = String::new();
    let e = loop {
        stream.ready().await.unwrap();
        match stream.next_ready().await {
            Ok(events) => {
                for e in events {
                    if let StreamEvent::Content(t) = e {
                        text.push_str(&t);
                    }
                }
            }
            Err(e) => break e,
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no deadline");
    };
    assert_eq!(e.code, ErrorCode::Timeout(TimeoutKind::Total), "{e:?}");
    assert_eq!(e.partial.unwrap().content.as_deref(), Some(text.as_str()));
    assert!(text.starts_with("drip drip"), "{text}");
}
