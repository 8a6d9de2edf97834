//! Routing over several backends, retries, cooldowns and deadlines, through the host with
//! loopback servers that inject faults.

use crate::support::*;
use llm_core_host::types::*;
use llm_core_host::{Client, HostOptions};
use replay_server::{ReplayServer, Reply, replies};
use std::time::{Duration, Instant};

fn backend(server: &ReplayServer, models: &[&str]) -> BackendConfig {
    BackendConfig {
        models: models.iter().map(|m| m.to_string()).collect(),
        ..BackendConfig::new(BackendKind::Vllm, server.base_url())
    }
}

async fn client_over(
    backends: Vec<BackendConfig>,
    routing: RoutingStrategy,
    tune: impl FnOnce(&mut ClientConfig),
) -> Client {
    let mut cfg = ClientConfig::new(backends);
    cfg.routing = Some(routing);
    cfg.retry.initial_backoff_ms = Some(10);
    cfg.retry.max_backoff_ms = Some(50);
    cfg.timeouts.total_ms = Some(20_000);
    tune(&mut cfg);
    core().client(cfg).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sequential_splits_100_concurrent_calls_evenly() {
    let (a, b) = (ReplayServer::start().await, ReplayServer::start().await);
    a.on(CHAT, ok_reply().after(Duration::from_millis(20)));
    b.on(CHAT, ok_reply().after(Duration::from_millis(20)));
    let client = client_over(
        vec![backend(&a, &["m"]), backend(&b, &["m"])],
        RoutingStrategy::Sequential,
        |_| {},
    )
    .await;
    let results = concurrent(&client, 100).await;
    assert!(results.iter().all(Result::is_ok));
    let (na, nb) = (a.requests_to(CHAT).len(), b.requests_to(CHAT).len());
    assert_eq!(na + nb, 100);
    // Tickets number the calls across instances: round-robin is exact, not approximate.
    assert_eq!((na, nb), (50, 50));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backend_killed_mid_run_costs_at_most_one_attempt_per_instance() {
    let (a, b) = (ReplayServer::start().await, ReplayServer::start().await);
    a.on(CHAT, ok_reply().after(Duration::from_millis(10)));
    b.on(CHAT, ok_reply().after(Duration::from_millis(10)));
    let max_calls = 16;
    let host = core_with(HostOptions {
        max_concurrent_calls: max_calls,
        ..HostOptions::default()
    });
    let mut cfg = ClientConfig::new(vec![backend(&a, &["m"]), backend(&b, &["m"])]);
    cfg.retry.initial_backoff_ms = Some(10);
    let client = host.client(cfg).await.unwrap(); // default cooldown: 5 s, longer than this run

    let first = concurrent(&client, 40).await;
    assert!(first.iter().all(Result::is_ok));
    assert!(!b.requests_to(CHAT).is_empty());
    b.kill();
    let mut after = concurrent(&client, 60).await;
    after.extend(concurrent(&client, 60).await);
    let failed_attempts: u32 = after
        .iter()
        .map(|r| {
            r.as_ref()
                .expect("every call succeeds on the other backend")
                .attempts
                - 1
        })
        .sum();
    assert!(
        after
            .iter()
            .all(|r| r.as_ref().unwrap().backend == a.addr().to_string())
    );
    // The bound: each instance (at most max_concurrent_calls of them) tries the dead backend
    // at most once per cooldown (5 s, longer than this run), then skips it.
    assert!(
        failed_attempts >= 1,
        "the dead backend was tried and found dead"
    );
    assert!(
        failed_attempts <= max_calls as u32,
        "failed attempts {failed_attempts} > {max_calls}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn least_loaded_follows_the_servers_metrics() {
    let (busy, idle) = (ReplayServer::start().await, ReplayServer::start().await);
    for s in [&busy, &idle] {
        s.on(CHAT, ok_reply());
    }
    busy.on("/metrics", Reply::text(200, "vllm:num_requests_running{model_name=\"m\"} 18\nvllm:num_requests_waiting{model_name=\"m\"} 12\n"));
    idle.on("/metrics", Reply::text(200, "# TYPE sglang:num_running_reqs gauge\nsglang:num_running_reqs{model_name=\"m\"} 1\nsglang:num_queue_reqs 0\n"));
    let client = client_over(
        vec![backend(&busy, &["m"]), backend(&idle, &["m"])],
        RoutingStrategy::LeastLoaded,
        |c| {
            c.metrics_ttl_ms = Some(60_000);
        },
    )
    .await;
    for _ in 0..20 {
        client.chat(ask("hi")).await.unwrap();
    }
    let (nb, ni) = (busy.requests_to(CHAT).len(), idle.requests_to(CHAT).len());
    // Load 30 vs 1: the idle server takes every call until its load plus the calls sent
    // since the reading reach 30.
    assert_eq!((nb, ni), (0, 20), "busy {nb}, idle {ni}");
    assert_eq!(
        idle.requests_to("/metrics").len(),
        1,
        "readings are cached for metrics-ttl-ms"
    );

    // A backend without metrics: round-robin.
    let (x, y) = (ReplayServer::start().await, ReplayServer::start().await);
    x.on(CHAT, ok_reply());
    y.on(CHAT, ok_reply());
    let client = client_over(
        vec![backend(&x, &["m"]), backend(&y, &["m"])],
        RoutingStrategy::LeastLoaded,
        |_| {},
    )
    .await;
    for _ in 0..10 {
        client.chat(ask("hi")).await.unwrap();
    }
    assert_eq!(
        (x.requests_to(CHAT).len(), y.requests_to(CHAT).len()),
        (5, 5)
    );

    // A `/metrics` that never answers costs one short probe, then is not asked again soon.
    let (slow, fine) = (ReplayServer::start().await, ReplayServer::start().await);
    slow.on(CHAT, ok_reply()).on("/metrics", Reply::Hang);
    fine.on(CHAT, ok_reply());
    let client = client_over(
        vec![backend(&slow, &["m"]), backend(&fine, &["m"])],
        RoutingStrategy::LeastLoaded,
        |c| c.metrics_ttl_ms = Some(100),
    )
    .await;
    let started = Instant::now();
    for _ in 0..6 {
        client.chat(ask("hi")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    let took = started.elapsed();
    assert!(took < Duration::from_millis(3_500), "{took:?}");
    assert_eq!(slow.requests_to("/metrics").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_metrics_of_many_servers_are_read_together_not_in_turn() {
    // Eight servers whose `/metrics` each take 400 ms: read one after another, a routing
    // decision would wait 3.2 s; read together, about 0.4 s.
    let mut servers = Vec::new();
    for load in 0..8 {
        let s = ReplayServer::start().await;
        s.on(CHAT, ok_reply()).on(
            "/metrics",
            Reply::text(200, format!("vllm:num_requests_running {}\n", 8 - load))
                .after(Duration::from_millis(400)),
        );
        servers.push(s);
    }
    let client = client_over(
        servers.iter().map(|s| backend(s, &["m"])).collect(),
        RoutingStrategy::LeastLoaded,
        |c| c.metrics_ttl_ms = Some(60_000),
    )
    .await;
    let started = Instant::now();
    let answer = client.chat(ask("hi")).await.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1_600), "{took:?}");
    // Every server was read, and the least loaded (the last) answered.
    for s in &servers {
        assert_eq!(s.requests_to("/metrics").len(), 1);
    }
    assert_eq!(servers[7].requests_to(CHAT).len(), 1, "{answer:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clients_instances_share_one_metrics_read_per_server() {
    // 32 calls at once on 32 instances: each instance's cache-aware router wants both
    // servers' loads, but the host lets one read per server answer them all (within a
    // quarter of the TTL).
    let (a, b) = (ReplayServer::start().await, ReplayServer::start().await);
    for s in [&a, &b] {
        s.on(CHAT, ok_reply().after(Duration::from_millis(50))).on(
            "/metrics",
            Reply::text(200, "vllm:num_requests_running 1\n"),
        );
    }
    let client = client_over(
        vec![backend(&a, &["m"]), backend(&b, &["m"])],
        RoutingStrategy::CacheAware,
        |_| {},
    )
    .await;
    client.prewarm(32).await.unwrap();
    let results = concurrent(&client, 32).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    for s in [&a, &b] {
        let reads = s.requests_to("/metrics").len();
        assert!(
            reads <= 2,
            "{reads} reads of one server's /metrics for 32 instances"
        );
    }
    let served = a.requests_to(CHAT).len() + b.requests_to(CHAT).len();
    assert_eq!(served, 32);
}

#[tokio::test(flavor = "multi_thread")]
async fn priority_fails_over_and_weighted_follows_weights() {
    let (first, second) = (ReplayServer::start().await, ReplayServer::start().await);
    first.on(CHAT, ok_reply());
    second.on(CHAT, ok_reply());
    let client = client_over(
        vec![backend(&first, &["m"]), backend(&second, &["m"])],
        RoutingStrategy::Priority,
        |_| {},
    )
    .await;
    for _ in 0..5 {
        client.chat(ask("hi")).await.unwrap();
    }
    assert_eq!(
        (
            first.requests_to(CHAT).len(),
            second.requests_to(CHAT).len()
        ),
        (5, 0)
    );
    first.on(CHAT, replies::error(503, "down"));
    let r = client.chat(ask("hi")).await.unwrap();
    assert_eq!((r.backend, r.attempts), (second.addr().to_string(), 2));
    client.chat(ask("hi")).await.unwrap();
    assert_eq!(
        first.requests_to(CHAT).len(),
        6,
        "the failed backend is skipped while it cools down"
    );

    let (light, heavy) = (ReplayServer::start().await, ReplayServer::start().await);
    light.on(CHAT, ok_reply());
    heavy.on(CHAT, ok_reply());
    let mut h = backend(&heavy, &["m"]);
    h.weight = Some(3);
    let client = client_over(
        vec![backend(&light, &["m"]), h],
        RoutingStrategy::Weighted,
        |_| {},
    )
    .await;
    for _ in 0..200 {
        client.chat(ask("hi")).await.unwrap();
    }
    let nl = light.requests_to(CHAT).len();
    assert!((25..=75).contains(&nl), "weight 1 of 4: {nl} of 200");
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_is_honoured() {
    let (server, _) = vllm().await;
    server.push(
        CHAT,
        Reply::with_headers(
            429,
            &[("retry-after", "1"), ("content-type", "application/json")],
            r#"{"error":{"message":"slow down"}}"#,
        ),
    );
    server.push(CHAT, ok_reply());
    let client = client_over(
        vec![backend(&server, &["m"])],
        RoutingStrategy::Sequential,
        |_| {},
    )
    .await;
    let started = Instant::now();
    let r = client.chat(ask("hi")).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(r.attempts, 2);
    assert!(
        waited >= Duration::from_millis(950) && waited < Duration::from_secs(3),
        "waited {waited:?}"
    );

    // A wait longer than max-retry-after-ms is not taken: the 429 comes back typed.
    server.push(
        CHAT,
        Reply::with_headers(429, &[("retry-after-ms", "120000")], "{}"),
    );
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(
        (e.code, e.attempts),
        (ErrorCode::RateLimited(Some(120_000)), 1)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried_with_backoff_client_errors_are_not() {
    let (server, _) = vllm().await;
    let client = client_over(
        vec![backend(&server, &["m"])],
        RoutingStrategy::Sequential,
        |c| {
            c.retry.initial_backoff_ms = Some(200);
            c.retry.max_backoff_ms = Some(1000);
        },
    )
    .await;
    server.push(CHAT, replies::error(503, "busy"));
    server.push(CHAT, replies::error(503, "busy"));
    server.push(CHAT, ok_reply());
    let started = Instant::now();
    let r = client.chat(ask("hi")).await.unwrap();
    assert_eq!(r.attempts, 3);
    // Backoffs of 200 and 400 ms, each less at most 25% jitter.
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );

    server.push(CHAT, replies::error(400, "bad temperature"));
    let before = server.requests_to(CHAT).len();
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(
        (e.code, e.attempts, e.status),
        (ErrorCode::HttpStatus, 1, Some(400))
    );
    assert_eq!(
        server.requests_to(CHAT).len() - before,
        1,
        "a 400 is not retried"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_total_deadline_ends_retries_with_a_timeout_naming_the_attempts() {
    let (server, _) = vllm().await;
    server.on(CHAT, replies::error(503, "overloaded"));
    let client = client_over(
        vec![backend(&server, &["m"])],
        RoutingStrategy::Sequential,
        |c| {
            c.timeouts.total_ms = Some(1200);
            c.retry.max_attempts = Some(20);
            c.retry.initial_backoff_ms = Some(300);
            c.retry.max_backoff_ms = Some(300);
        },
    )
    .await;
    let started = Instant::now();
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Timeout(TimeoutKind::Total), "{e:?}");
    assert!(e.attempts >= 2 && e.attempts < 20, "{}", e.attempts);
    assert!(
        e.message
            .contains(&format!("gave up after {} attempts", e.attempts)),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("overloaded"),
        "the last error is kept: {}",
        e.message
    );
    assert!(started.elapsed() < Duration::from_millis(1500));

    // A server that never answers: the deadline cuts the wait itself.
    server.on(CHAT, Reply::Hang);
    let started = Instant::now();
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Timeout(TimeoutKind::Total));
    assert!(
        started.elapsed() < Duration::from_millis(1600),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn models_route_to_the_backends_that_serve_them() {
    let (a, b) = (ReplayServer::start().await, ReplayServer::start().await);
    a.on(CHAT, ok_reply());
    b.on(CHAT, ok_reply());
    // b declares nothing: its models are discovered.
    b.on("/v1/models", replies::models(&["qwen-b"]));
    let client = client_over(
        vec![backend(&a, &["llama-a"]), backend(&b, &[])],
        RoutingStrategy::Sequential,
        |_| {},
    )
    .await;
    for model in ["qwen-b", "llama-a", "qwen-b"] {
        let mut r = ChatRequest::user("hi");
        r.model = Some(model.into());
        client.chat(r).await.unwrap();
    }
    assert_eq!(
        (a.requests_to(CHAT).len(), b.requests_to(CHAT).len()),
        (1, 2)
    );

    let mut r = ChatRequest::user("hi");
    r.model = Some("gpt-9".into());
    let e = client.chat(r).await.unwrap_err();
    assert_eq!(
        e.code,
        ErrorCode::UnknownModel(vec!["llama-a".into(), "qwen-b".into()])
    );
    assert!(
        e.message.contains("available: llama-a, qwen-b"),
        "{}",
        e.message
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn recovery_after_cooldown_can_be_confirmed_with_health() {
    let (a, b) = (ReplayServer::start().await, ReplayServer::start().await);
    a.on(CHAT, Reply::status_json(503, "{}"));
    a.on("/health", Reply::status_json(503, "{}"));
    b.on(CHAT, ok_reply());
    let client = client_over(
        vec![backend(&a, &["m"]), backend(&b, &["m"])],
        RoutingStrategy::Priority,
        |c| {
            c.cooldown.base_ms = Some(100);
            c.cooldown.probe_health = Some(true);
        },
    )
    .await;
    assert_eq!(client.chat(ask("hi")).await.unwrap().attempts, 2);
    tokio::time::sleep(Duration::from_millis(150)).await;
    // Cooldown over, but /health says no: the call goes to b without touching a's chat.
    let before = a.requests_to(CHAT).len();
    assert_eq!(client.chat(ask("hi")).await.unwrap().attempts, 1);
    assert_eq!(a.requests_to(CHAT).len(), before);
    assert!(!a.requests_to("/health").is_empty());
    // Healthy again: priority sends it traffic once its (doubled) cooldown is over.
    a.on(CHAT, ok_reply());
    a.on("/health", Reply::text(200, ""));
    tokio::time::sleep(Duration::from_millis(450)).await;
    let r = client.chat(ask("hi")).await.unwrap();
    assert_eq!(r.backend, a.addr().to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backend_that_cannot_express_the_request_is_left_out() {
    let (llama, vllm) = (ReplayServer::start().await, ReplayServer::start().await);
    llama.on(CHAT, ok_reply());
    vllm.on(CHAT, ok_reply());
    let llama_backend = BackendConfig {
        kind: BackendKind::OpenaiCompatible,
        ..backend(&llama, &["m"])
    };
    let client = client_over(
        vec![llama_backend.clone(), backend(&vllm, &["m"])],
        RoutingStrategy::Sequential,
        |_| {},
    )
    .await;
    // A look-ahead has no llama.cpp grammar equivalent; vLLM takes the regex as is.
    let mut request = ask("x");
    request.response_format = Some(ResponseFormat::Regex("(?=a)a+".into()));
    for _ in 0..4 {
        client.chat(request.clone()).await.unwrap();
    }
    assert_eq!(
        (llama.requests_to(CHAT).len(), vllm.requests_to(CHAT).len()),
        (0, 4)
    );

    // When no backend can, the refusal comes back unsent and names the reason.
    let alone = client_over(vec![llama_backend], RoutingStrategy::Sequential, |_| {}).await;
    let e = alone.chat(request).await.unwrap_err();
    assert_eq!(
        (e.code.clone(), e.attempts),
        (ErrorCode::InvalidRequest, 0),
        "{e:?}"
    );
    assert!(e.message.contains("look-around"), "{}", e.message);
    assert_eq!(llama.requests_to(CHAT).len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn cache_aware_keeps_each_session_on_one_backend_and_tells_cluster_routers() {
    let servers = [
        ReplayServer::start().await,
        ReplayServer::start().await,
        ReplayServer::start().await,
    ];
    for s in &servers {
        s.on(CHAT, replies::text("ok"));
    }
    let mut cfg = config(BackendKind::Vllm, &servers[0].base_url());
    for s in &servers[1..] {
        cfg.backends
            .push(BackendConfig::new(BackendKind::Vllm, s.base_url()));
    }
    cfg.routing = Some(RoutingStrategy::CacheAware);
    let client = core().client(cfg.clone()).await.unwrap();
    let other_instance = core().client(cfg).await.unwrap();
    for session in 0..12 {
        for turn in 0..3 {
            let mut req = ask(&format!("turn {turn}"));
            req.session_id = Some(format!("agent-{session}"));
            req.cache_salt = Some("tenant-a".into());
            // Turns alternate between two clients: they agree without sharing state.
            let c = if turn % 2 == 0 {
                &client
            } else {
                &other_instance
            };
            c.chat(req).await.unwrap();
        }
    }
    let mut used = 0;
    for s in &servers {
        let sent = s.requests_to(CHAT);
        used += usize::from(!sent.is_empty());
        let mut sessions: Vec<String> = sent
            .iter()
            .map(|r| r.header("x-session-id").unwrap().to_string())
            .collect();
        assert!(sent.iter().all(|r| r.json()["cache_salt"] == "tenant-a"));
        let turns = sessions.len();
        sessions.sort();
        sessions.dedup();
        assert_eq!(
            turns,
            sessions.len() * 3,
            "every turn of a session on one server"
        );
    }
    assert!(used >= 2, "sessions spread over the servers");
}
