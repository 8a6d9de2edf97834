//! Plain chat through the component in the host, against the replay server: what is sent,
//! every server's answer shape, every error shape, and the sandbox.

use crate::support::*;
use llm_core_host::HostOptions;
use llm_core_host::types::*;
use replay_server::{ReplayServer, Reply, replies};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn sends_an_openai_request_with_only_the_fields_set() {
    let (server, client) = vllm().await;
    server.on(CHAT, ok_reply());
    let mut request = ChatRequest::new(vec![Message::system("Be brief."), Message::user("Say hi")]);
    request.model = Some("Qwen/Qwen3-8B".into());
    request.sampling.temperature = Some(0.2);
    request.sampling.max_tokens = Some(32);
    let response = client.chat(request).await.unwrap();

    let sent = server.last();
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", CHAT));
    assert_eq!(sent.header("authorization"), Some("Bearer sk-1234"));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert!(
        sent.header("user-agent")
            .unwrap()
            .starts_with("aios-llm-core/0.1")
    );
    // Every call carries its id, in the header and (for vLLM) the body.
    let mut body = sent.json();
    let id = body["request_id"].as_str().unwrap().to_string();
    assert_eq!(sent.header("x-request-id"), Some(id.as_str()));
    body.as_object_mut().unwrap().remove("request_id");
    assert_eq!(
        body,
        json!({
            "model": "Qwen/Qwen3-8B",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}],
            "temperature": 0.2,
            "max_tokens": 32
        })
    );

    assert_eq!(response.content.as_deref(), Some("Hello! How can I help?"));
    assert_eq!(response.reasoning.as_deref(), Some("The user greets me."));
    assert_eq!(response.finish_reason, Some(FinishReason::Stop));
    assert_eq!(
        response.usage,
        Some(Usage {
            prompt_tokens: 12,
            completion_tokens: 19,
            total_tokens: 31,
            reasoning_tokens: None,
            cached_tokens: None,
        })
    );
    assert_eq!(response.model, "Qwen/Qwen3-8B");
    assert_eq!(response.backend, server.addr().to_string());
    assert_eq!(response.attempts, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_every_servers_answer_shape() {
    let (server, client) = vllm().await;
    for (file, content, total) in [
        ("vllm-chat.json", "Hello! How can I help?", 31),
        ("vllm-old-chat.json", "Hello from an older vLLM.", 17),
        ("sglang-chat.json", "Hello from SGLang.", 15),
        ("llamacpp-chat.json", "Say hi<|im_end|>", 34),
    ] {
        server.push(CHAT, Reply::json(fixture(file)));
        let r = client
            .chat(ask("hi"))
            .await
            .unwrap_or_else(|e| panic!("{file}: {e:?}"));
        assert_eq!(r.content.as_deref(), Some(content), "{file}");
        assert_eq!(r.usage.map(|u| u.total_tokens), Some(total), "{file}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn api_key_is_sent_and_never_echoed() {
    let server = ReplayServer::start().await;
    server.on(CHAT, replies::unauthorized());
    let mut config = config(BackendKind::Sglang, &server.base_url());
    config.backends[0].api_key = Some("sk-secret-123".into());
    let client = core().client(config).await.unwrap();
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(
        server.last().header("authorization"),
        Some("Bearer sk-secret-123")
    );
    assert_eq!((&e.code, e.status), (&ErrorCode::Unauthorized, Some(401)));
    let everything = format!("{e:?}");
    assert!(
        !everything.contains("sk-secret-123"),
        "key leaked into the error: {everything}"
    );
    assert_eq!(server.requests().len(), 1, "401 is not retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn maps_every_error_shape() {
    let server = ReplayServer::start().await;
    let mut cfg = config(BackendKind::Vllm, &server.base_url());
    cfg.retry.max_attempts = Some(1);
    let client = core().client(cfg).await.unwrap();
    let cases: Vec<(Reply, ErrorCode, u16, &str)> = vec![
        (
            replies::error(
                400,
                "This model's maximum context length is 4096 tokens. However, you requested 9000 tokens.",
            ),
            ErrorCode::ContextLengthExceeded,
            400,
            "maximum context length is 4096",
        ),
        (
            replies::llamacpp_error(
                400,
                "exceed_context_size_error",
                "the request exceeds the available context size, try increasing it",
            ),
            ErrorCode::ContextLengthExceeded,
            400,
            "exceeds the available context size",
        ),
        (
            replies::flat_error(404, "The model `gpt-9` does not exist."),
            ErrorCode::UnknownModel(vec![]),
            404,
            "`gpt-9` does not exist",
        ),
        (
            replies::unauthorized(),
            ErrorCode::Unauthorized,
            401,
            "Unauthorized",
        ),
        (
            Reply::with_headers(
                429,
                &[("retry-after", "7")],
                replies::flat_error_body(429, "slow down"),
            ),
            ErrorCode::RateLimited(Some(7000)),
            429,
            "slow down",
        ),
        (
            replies::llamacpp_error(503, "unavailable_error", "Loading model"),
            ErrorCode::Unavailable,
            503,
            "Loading model",
        ),
        (
            Reply::text(500, "Internal Server Error"),
            ErrorCode::HttpStatus,
            500,
            "Internal Server Error",
        ),
        (
            Reply::status_json(
                422,
                r#"{"detail":[{"loc":["body","messages"],"msg":"Field required","type":"missing"}]}"#,
            ),
            ErrorCode::HttpStatus,
            422,
            "Field required",
        ),
    ];
    for (reply, code, status, said) in cases {
        server.push(CHAT, reply);
        let e = client.chat(ask("hi")).await.unwrap_err();
        assert_eq!(e.code, code, "{said}: {e:?}");
        assert_eq!(e.status, Some(status));
        assert!(
            e.message.contains(said),
            "message keeps the server's words: {}",
            e.message
        );
        assert!(
            e.body.as_deref().unwrap_or_default().contains(said),
            "raw body kept: {:?}",
            e.body
        );
        assert_eq!(
            (e.backend.as_deref(), e.attempts),
            (Some(server.addr().to_string().as_str()), 1)
        );
    }
    // An error page larger than the 1 MiB read limit still reaches the caller: its message,
    // and its first 64 KiB as the body (the documented cap).
    let page = format!("upstream exploded {}", "x".repeat(2 << 20));
    server.push(CHAT, Reply::text(502, page.clone()));
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!((e.code, e.status), (ErrorCode::HttpStatus, Some(502)));
    let body = e.body.unwrap_or_default();
    assert_eq!(body.len(), 64 << 10);
    assert!(page.starts_with(&body));
    assert!(e.message.contains("upstream exploded"), "{}", e.message);
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_port_is_a_connection_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: nothing listens there now
    let mut cfg = config(BackendKind::Vllm, &format!("http://127.0.0.1:{port}/v1"));
    cfg.retry.max_attempts = Some(2);
    let client = core().client(cfg).await.unwrap();
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Connection);
    assert!(e.message.contains("connection refused"), "{}", e.message);
    assert_eq!(e.attempts, 2, "connection errors are retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_denies_hosts_it_was_not_told_to_allow() {
    let server = ReplayServer::start().await;
    server.on(CHAT, ok_reply());
    let host = core_with(HostOptions {
        allowed_origins: Some(vec!["http://127.0.0.1:9/v1".into()]),
        ..HostOptions::default()
    });
    let client = host
        .client(config(BackendKind::Vllm, &server.base_url()))
        .await
        .unwrap();
    assert_eq!(client.allowed_origins(), ["http://127.0.0.1:9"]);
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Denied, "{e:?}");
    assert!(
        e.message.contains(&server.addr().to_string()),
        "{}",
        e.message
    );
    assert_eq!(e.attempts, 1, "a denial is final");
    assert!(server.requests().is_empty(), "nothing reached the server");

    // By default a client may reach exactly its backends.
    let client = core()
        .client(config(BackendKind::Vllm, &server.base_url()))
        .await
        .unwrap();
    assert_eq!(
        client.allowed_origins(),
        [format!("http://{}", server.addr())]
    );
    assert!(client.chat(ask("hi")).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_empty_and_huge_answers() {
    let (server, client) = vllm().await;
    server.push(CHAT, Reply::text(200, "<html>not json</html>"));
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::MalformedResponse);
    assert_eq!(e.body.as_deref(), Some("<html>not json</html>"));

    server.push(CHAT, Reply::json(""));
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::MalformedResponse);
    assert!(e.message.contains("empty body"), "{}", e.message);

    let huge = "x".repeat(5 << 20);
    server.push(CHAT, replies::finished(json!({"content": huge}), "length"));
    let r = client.chat(ask("hi")).await.unwrap();
    assert_eq!(r.content.map(|c| c.len()), Some(5 << 20));

    // Over the client's max-response-bytes: a typed limit error, not a trap.
    let mut small = config(BackendKind::Vllm, &server.base_url());
    small.max_response_bytes = Some(1 << 20);
    let client = core().client(small).await.unwrap();
    server.push(CHAT, replies::text(&"y".repeat(2 << 20)));
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::LimitExceeded, "{e:?}");
    // The instance is still usable after that.
    server.push(CHAT, Reply::json(fixture("sglang-chat.json")));
    assert!(client.chat(ask("hi")).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn models_health_and_discovery() {
    let (server, client) = vllm().await;
    server.on("/v1/models", Reply::json(fixture("vllm-models.json")));
    let models = client.list_models().await.unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!(
        (
            models[0].id.as_str(),
            models[0].max_model_len,
            models[0].owned_by.as_deref()
        ),
        ("Qwen/Qwen3-8B", Some(32768), Some("vllm"))
    );
    assert_eq!(server.last().method, "GET");

    // Without a model in the request, the server's first model is used (discovered once).
    server.on(CHAT, ok_reply());
    client.chat(ChatRequest::user("hi")).await.unwrap();
    client.chat(ChatRequest::user("hi")).await.unwrap();
    assert_eq!(
        server.requests_to(CHAT)[0].json()["model"],
        json!("Qwen/Qwen3-8B")
    );
    assert_eq!(
        server.requests_to("/v1/models").len(),
        1,
        "list-models refreshed the discovery cache the chats then used"
    );

    server.on("/health", Reply::text(200, ""));
    server.on("/metrics", Reply::text(200, "vllm:num_requests_running{model_name=\"m\"} 2.0\nvllm:num_requests_waiting{model_name=\"m\"} 1.0\n"));
    let health = client.health().await.unwrap();
    assert!(health[0].healthy, "{:?}", health[0].error);
    assert_eq!(health[0].load, Some(3));
    assert_eq!(health[0].models, vec!["Qwen/Qwen3-8B".to_string()]);
    server.on(
        "/health",
        replies::llamacpp_error(503, "unavailable_error", "Loading model"),
    );
    let health = client.health().await.unwrap();
    assert!(!health[0].healthy);
    assert_eq!(
        health[0].error.as_ref().map(|e| e.code.clone()),
        Some(ErrorCode::Unavailable)
    );

    // llama.cpp's model list carries the context size under meta.n_ctx.
    server.on("/v1/models", Reply::json(fixture("llamacpp-models.json")));
    let models = client.list_models().await.unwrap();
    assert_eq!(
        (models[0].id.as_str(), models[0].max_model_len),
        ("gemma-3-270m", Some(4096))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_config_fails_at_construction() {
    for (cfg, needle) in [
        (ClientConfig::new(vec![]), "no backends"),
        (
            ClientConfig::single(BackendKind::Vllm, "localhost:8000/v1"),
            "must start with http",
        ),
        (
            {
                let mut c = ClientConfig::single(BackendKind::Vllm, "http://127.0.0.1:8000/v1");
                c.timeouts.first_byte_ms = Some(0);
                c
            },
            "timeouts.first-byte-ms",
        ),
    ] {
        let e = core().client(cfg).await.err().expect("refused");
        assert_eq!(e.code, ErrorCode::InvalidConfig);
        assert!(e.message.contains(needle), "{}", e.message);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_requests_are_refused_before_sending() {
    let (server, client) = vllm().await;
    let e = client.chat(ChatRequest::new(vec![])).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    let mut bad = ask("hi");
    bad.sampling.temperature = Some(f64::INFINITY);
    assert_eq!(
        client.chat(bad).await.unwrap_err().code,
        ErrorCode::InvalidRequest
    );
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_calls_run_in_parallel_on_separate_instances() {
    let (server, client) = vllm().await;
    server.on(CHAT, ok_reply().after(Duration::from_millis(300)));
    assert!(concurrent(&client, 12).await.iter().all(Result::is_ok));
    assert!(
        server.peak_in_flight() >= 8,
        "calls overlapped at the server: peak {}",
        server.peak_in_flight()
    );
    // Keep-alive: far fewer connections than requests on the next sequential round.
    let before = server.connections();
    server.on(CHAT, ok_reply());
    for _ in 0..10 {
        client.chat(ask("hi")).await.unwrap();
    }
    assert!(
        server.connections() - before <= 1,
        "connections reused: {} new",
        server.connections() - before
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_body_over_the_write_budget_is_streamed_whole() {
    let (server, client) = vllm().await;
    server.on(CHAT, ok_reply());
    // Small bodies go out with the head in one write; this one (3 MB, over the 1 MiB stream
    // budget) is streamed after the request is sent.
    let prompt = "word ".repeat(600_000);
    client.chat(ask(&prompt)).await.unwrap();
    let sent = server.last();
    assert_eq!(
        sent.header("content-length")
            .map(|l| l.parse::<usize>().unwrap()),
        Some(sent.body.len())
    );
    assert_eq!(
        sent.json()["messages"][0]["content"].as_str().map(str::len),
        Some(prompt.len())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn model_discovery_is_retried_like_a_call() {
    let (server, client) = vllm().await;
    server.push("/v1/models", replies::error(503, "starting"));
    server.on("/v1/models", Reply::json(fixture("vllm-models.json")));
    server.on(CHAT, ok_reply());
    // No model in the request: the server's first model, found on the second try.
    let r = client.chat(ChatRequest::user("hi")).await.unwrap();
    assert_eq!(r.model, "Qwen/Qwen3-8B");
    assert_eq!(server.requests_to("/v1/models").len(), 2);
    assert_eq!(server.last().json()["model"], json!("Qwen/Qwen3-8B"));

    // A dead server: discovery fails after the configured attempts, with a typed error.
    let mut cfg = config(BackendKind::Vllm, "http://127.0.0.1:9/v1");
    cfg.retry.max_attempts = Some(2);
    let dead = core().client(cfg).await.unwrap();
    let e = dead.chat(ChatRequest::user("hi")).await.unwrap_err();
    assert_eq!((e.code, e.attempts), (ErrorCode::Connection, 2));
}
