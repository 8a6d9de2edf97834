//! The `chat` flags for scheduling, caching, log probabilities, images and routing, and the
//! `tokens` and `embed` commands, run as a user runs them against replay servers.

use super::{chat_cmd, command, llm_core, server, stderr, stdout, temp_dir};
use crate::support::CHAT;
use replay_server::replies;
use replay_server::{ReplayServer, Reply};
use serde_json::{Value, json};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread")]
async fn scheduling_cache_and_logprob_flags_reach_the_request_and_the_record() {
    let (server, url) = server().await;
    server.on(
        CHAT,
        Reply::json(
            r#"{"id":"c","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.25,"top_logprobs":[{"token":"Hi","logprob":-0.25},{"token":"Hello","logprob":-1.75}]}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":30,"completion_tokens":1,"total_tokens":31,"prompt_tokens_details":{"cached_tokens":16}}}"#,
        ),
    );
    let o = chat_cmd(
        &url,
        &[
            "--backend",
            "vllm",
            "--priority",
            "-3",
            "--request-id",
            "agent-1-turn-4",
            "--session-id",
            "agent-1",
            "--cache-salt",
            "tenant-a",
            "--logprobs",
            "2",
            "--json",
            "hi",
        ],
    )
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let sent = server.last();
    assert_eq!(sent.header("x-request-id"), Some("agent-1-turn-4"));
    assert_eq!(sent.header("x-session-id"), Some("agent-1"));
    let body = sent.json();
    for (field, value) in [
        ("priority", json!(-3)),
        ("request_id", json!("agent-1-turn-4")),
        ("cache_salt", json!("tenant-a")),
        ("logprobs", json!(true)),
        ("top_logprobs", json!(2)),
    ] {
        assert_eq!(body[field], value, "{field}");
    }
    let record: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        record["logprobs"],
        json!([{"token": "Hi", "logprob": -0.25, "top": [
            {"token": "Hi", "logprob": -0.25}, {"token": "Hello", "logprob": -1.75}
        ]}])
    );
    assert_eq!(record["usage"]["cached_tokens"], json!(16));

    // SGLang runs higher priorities first: the CLI's "lower first" is negated for it.
    server.on(CHAT, replies::text("ok"));
    let o = chat_cmd(&url, &["--backend", "sglang", "--priority", "4", "hi"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let body = server.last().json();
    assert_eq!(body["priority"], json!(-4));
    // Without --logprobs the record's list is empty.
    let o = chat_cmd(&url, &["--json", "hi"]).await;
    let record: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (
            record["logprobs"].clone(),
            record["usage"]["cached_tokens"].clone()
        ),
        (json!([]), Value::Null)
    );
    // The stream summary names the cached prompt tokens when the server reports them.
    let usage = r#"{"id":"c","object":"chat.completion.chunk","model":"m","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":1,"total_tokens":31,"prompt_tokens_details":{"cached_tokens":16}}}"#;
    let events = [
        replies::content_chunk("Hi"),
        replies::finish_chunk("stop"),
        usage.to_string(),
        replies::DONE.to_string(),
    ];
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    server.on(CHAT, Reply::sse(&refs));
    let o = chat_cmd(&url, &["--stream", "hi"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("30 prompt (16 cached) + 1 completion tokens"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn images_are_sent_inline_or_by_url_and_unknown_files_are_named() {
    let (server, url) = server().await;
    server.on(CHAT, replies::text("a dot"));
    let dir = temp_dir("images");
    let png = dir.join("dot.PNG");
    std::fs::write(&png, [0x89, b'P', b'N', b'G']).unwrap();
    let o = chat_cmd(
        &url,
        &[
            "--image",
            png.to_str().unwrap(),
            "--image",
            "https://example.com/cat.webp",
            "What",
            "is",
            "this?",
        ],
    )
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "a dot\n");
    assert_eq!(
        server.last().json()["messages"][0]["content"],
        json!([
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp"}}
        ])
    );
    let sent = server.requests_to(CHAT).len();
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "not an image").unwrap();
    let missing = dir.join("missing.jpg");
    for (image, needle) in [
        (notes.to_str().unwrap(), "not an image file llm-core knows"),
        (missing.to_str().unwrap(), "cannot read it"),
    ] {
        let o = chat_cmd(&url, &["--image", image, "hi"]).await;
        assert_eq!(o.status.code(), Some(1));
        let e = stderr(&o);
        assert!(e.contains(&format!("--image {image}: {needle}")), "{e}");
    }
    assert_eq!(server.requests_to(CHAT).len(), sent, "nothing was sent");
    std::fs::remove_dir_all(&dir).ok();
}

/// Which of two servers answered each of `runs` chats made with `flags`.
async fn answered_by(a: &ReplayServer, b: &ReplayServer, flags: &[&str], runs: usize) -> String {
    let (url_a, url_b) = (a.base_url(), b.base_url());
    let mut order = String::new();
    for _ in 0..runs {
        let (before_a, before_b) = (a.requests_to(CHAT).len(), b.requests_to(CHAT).len());
        let mut args = vec![
            "chat",
            "--base-url",
            &url_a,
            "--base-url",
            &url_b,
            "--model",
            "m",
        ];
        args.extend_from_slice(flags);
        args.push("hi");
        let o = llm_core(&args).await;
        assert!(o.status.success(), "{}", stderr(&o));
        order.push(
            match (
                a.requests_to(CHAT).len() - before_a,
                b.requests_to(CHAT).len() - before_b,
            ) {
                (1, 0) => 'a',
                (0, 1) => 'b',
                other => panic!("{other:?}"),
            },
        );
    }
    order
}

#[tokio::test(flavor = "multi_thread")]
async fn routing_picks_among_base_urls() {
    let (a, b) = (ReplayServer::start().await, ReplayServer::start().await);
    for s in [&a, &b] {
        s.on(CHAT, replies::text("ok"));
    }
    // Failover order: always the first; each run starts round-robin at a random place.
    assert_eq!(
        answered_by(&a, &b, &["--routing", "priority"], 6).await,
        "aaaaaa"
    );
    // One session stays on one backend, whichever it is.
    let session = answered_by(
        &a,
        &b,
        &["--routing", "cache-aware", "--session-id", "s-1"],
        6,
    )
    .await;
    assert!(session == "aaaaaa" || session == "bbbbbb", "{session}");
    let o = llm_core(&["chat", "--routing", "fastest", "hi"]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cache-aware"), "{}", stderr(&o));
    let o = llm_core(&["chat", "--routing", "priority", "--config", "x.toml", "hi"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_counts_the_prompt_as_the_server_does() {
    let (server, url) = server().await;
    server.on(
        "/tokenize",
        Reply::json(r#"{"count":17,"max_model_len":32768,"tokens":[1,2,3],"token_strs":null}"#),
    );
    let args = [
        "tokens",
        "--base-url",
        &url,
        "--backend",
        "vllm",
        "--model",
        "m",
    ];
    let mut with_prompt = args.to_vec();
    with_prompt.extend(["--system", "Be brief.", "How", "long?"]);
    let o = llm_core(&with_prompt).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "17 prompt tokens (model m, context 32768)\n");
    assert_eq!(
        server.last().json()["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "How long?"}])
    );
    with_prompt.push("--json");
    let o = llm_core(&with_prompt).await;
    let record: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        record,
        json!({"prompt_tokens": 17, "max_model_len": 32768, "model": "m", "backend": server.addr().to_string()})
    );
    // llama.cpp counts at its own endpoint and does not say the context length.
    server.on(
        "/v1/chat/completions/input_tokens",
        Reply::json(r#"{"input_tokens":32,"object":"response.input_tokens"}"#),
    );
    let o = llm_core(&[
        "tokens",
        "--base-url",
        &url,
        "--backend",
        "openai",
        "--model",
        "m",
        "hi",
    ])
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "32 prompt tokens (model m)\n");
    // An unreadable conversation is told as the flag, before anything is sent.
    let o = llm_core(&["tokens", "--base-url", &url, "--messages", "/no/such.json"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--messages /no/such.json"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn embed_prints_a_vector_per_text_or_one_record() {
    let server = ReplayServer::start().await;
    let url = server.base_url();
    let batch = |vectors: &str, prompt: u32| {
        Reply::json(format!(
            r#"{{"object":"list","data":{vectors},"model":"e5","usage":{{"prompt_tokens":{prompt},"total_tokens":{prompt}}}}}"#
        ))
    };
    server.push(
        "/v1/embeddings",
        batch(r#"[{"index":0,"embedding":[0.1,-1]}]"#, 2),
    );
    server.push(
        "/v1/embeddings",
        batch(r#"[{"index":0,"embedding":[0.5,0.25]}]"#, 3),
    );
    let o = llm_core(&[
        "embed",
        "--base-url",
        &url,
        "--model",
        "e5",
        "--dimensions",
        "2",
        "--batch-size",
        "1",
        "first text",
        "second",
    ])
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "[0.1,-1.0]\n[0.5,0.25]\n");
    let sent = server.requests_to("/v1/embeddings");
    assert_eq!(sent[0].json()["input"], json!(["first text"]));
    assert_eq!(sent[1].json()["input"], json!(["second"]));
    assert_eq!(sent[0].json()["dimensions"], json!(2));

    // Texts from stdin, a line each; --json gives one record.
    server.push(
        "/v1/embeddings",
        batch(
            r#"[{"index":0,"embedding":[1,0]},{"index":1,"embedding":[0,1]}]"#,
            4,
        ),
    );
    let mut child = command(&["embed", "--base-url", &url, "--model", "e5", "--json"])
        .await
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"line one\r\nline two\n").await.unwrap();
    drop(stdin);
    let o = child.wait_with_output().await.unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let record: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(record["vectors"], json!([[1.0, 0.0], [0.0, 1.0]]));
    assert_eq!(
        (
            record["model"].clone(),
            record["usage"]["prompt_tokens"].clone()
        ),
        (json!("e5"), json!(4))
    );
    assert_eq!(
        server.last().json()["input"],
        json!(["line one", "line two"])
    );

    // The server's refusal, as an error record.
    server.push(
        "/v1/embeddings",
        Reply::status_json(
            400,
            r#"{"object":"error","message":"The model does not support Embeddings API","type":"BadRequestError","code":400}"#,
        ),
    );
    let o = llm_core(&["embed", "--base-url", &url, "--model", "m", "--json", "x"]).await;
    assert_eq!(o.status.code(), Some(1));
    let e: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(e["error"]["status"], json!(400));
}
