//! The component in the wasmtime host, side by side with a native Rust client and
//! openai-python, in one run, against one loopback server of ours.
//!
//! `scripts/bench` runs it (`cargo bench --bench compare -- [--quick] [--json FILE]
//! [--python PYTHON] [--component FILE ...]`); BENCHMARKS.md explains the figures.
//!
//! The native client is the practical limit: the very same request building, response
//! parsing, SSE parsing and stream assembly (this crate's modules, compiled natively) over a
//! pooled keep-alive hyper client. The difference to it is what the sandbox costs.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use llm_core_host::{HostOptions, LlmCore, types as host};
use replay_server::{ReplayServer, Reply};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SYSTEM: &str = "You are a helpful assistant.";
const USER: &str = "Write one sentence about the sea.";

struct Args {
    /// Child mode: measure memory per in-flight call for one client in a fresh process.
    rss_child: Option<(String, String)>,
    quick: bool,
    json: PathBuf,
    python: Option<String>,
    components: Vec<PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        rss_child: None,
        quick: false,
        json: PathBuf::from("target/bench/compare.json"),
        python: None,
        components: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => a.quick = true,
            "--json" => a.json = it.next().expect("--json FILE").into(),
            "--python" => a.python = it.next(),
            "--component" => a
                .components
                .push(it.next().expect("--component FILE").into()),
            "--bench" => {}
            "--rss-child" => {
                a.rss_child = Some((it.next().expect("client"), it.next().expect("url")))
            }
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// Sizes of each workload.
struct Plan {
    rounds: usize,
    latency_calls: usize,
    throughput_seconds: f64,
    one_stream_events: usize,
    many_streams: usize,
    events_per_stream: usize,
    python_calls: usize,
}

/// One round's figures for one client.
#[derive(Clone, Copy, Default)]
struct Figures {
    p50: f64,
    p99: f64,
    t16: f64,
    t64: f64,
    s1: f64,
    sn: f64,
}

impl Figures {
    /// Median of each figure over rounds.
    fn median(rounds: &[Figures]) -> Figures {
        let m = |f: fn(&Figures) -> f64| median(rounds.iter().map(f).collect());
        Figures {
            p50: m(|f| f.p50),
            p99: m(|f| f.p99),
            t16: m(|f| f.t16),
            t64: m(|f| f.t64),
            s1: m(|f| f.s1),
            sn: m(|f| f.sn),
        }
    }
}

/// The loopback servers: plain chat, one long stream, many shorter streams, slow chat.
struct Servers {
    chat: String,
    one_stream: String,
    many_streams: String,
    slow: String,
}

fn completion() -> String {
    json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1764000000, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "The sea breathes against the shore, patient and endless, keeping every secret the tide has ever carried."}, "logprobs": null, "finish_reason": "stop", "stop_reason": null}],
        "usage": {"prompt_tokens": 28, "total_tokens": 52, "completion_tokens": 24}
    })
    .to_string()
}

/// A vLLM-shaped stream of `events` content deltas, sent 64 events per write.
fn stream_reply(events: usize) -> Reply {
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1764000000, "model": "m",
                   "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
        )
    };
    let token = chunk(json!({"content": " tok"}), Value::Null);
    let mut parts = vec![Bytes::from(chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    ))];
    let mut left = events;
    while left > 0 {
        let n = left.min(64);
        parts.push(Bytes::from(token.repeat(n)));
        left -= n;
    }
    let tail = format!(
        "{}data: {}\n\ndata: [DONE]\n\n",
        chunk(json!({}), json!("stop")),
        json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1764000000, "model": "m", "choices": [],
               "usage": {"prompt_tokens": 28, "completion_tokens": events, "total_tokens": events + 28}})
    );
    parts.push(Bytes::from(tail));
    Reply::sse_raw(parts)
}

// ------------------------------------------------------------------------------------------
// The three clients
// ------------------------------------------------------------------------------------------

fn host_request() -> host::ChatRequest {
    let mut r = host::ChatRequest::new(vec![
        host::Message::system(SYSTEM),
        host::Message::user(USER),
    ]);
    r.model = Some("m".into());
    r.sampling.max_tokens = Some(64);
    r.sampling.temperature = Some(0.7);
    r
}

#[derive(Clone)]
struct Native {
    http: HyperClient<HttpConnector, Full<Bytes>>,
    backend: Arc<aios_llm_core::config::Backend>,
    request: Arc<aios_llm_core::types::ChatRequest>,
}

impl Native {
    fn new(base_url: &str) -> Native {
        use aios_llm_core::types::*;
        let msg = |role, text: &str| Message {
            role,
            content: Some(text.into()),
            name: None,
            tool_calls: vec![],
            tool_call_id: None,
        };
        let mut request = ChatRequest::new(vec![msg(Role::System, SYSTEM), msg(Role::User, USER)]);
        request.model = Some("m".into());
        request.sampling.temperature = Some(0.7);
        request.sampling.max_tokens = Some(64);
        let backend = aios_llm_core::config::Backend {
            name: "native".into(),
            kind: BackendKind::Vllm,
            base: aios_llm_core::url::BaseUrl::parse(base_url).expect("base URL"),
            api_key: None,
            models: vec![],
            weight: 1,
            legacy_guided_decoding: false,
        };
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Native {
            http: HyperClient::builder(TokioExecutor::new()).build(connector),
            backend: Arc::new(backend),
            request: Arc::new(request),
        }
    }

    async fn send(&self, stream: bool) -> hyper::Response<hyper::body::Incoming> {
        let body = aios_llm_core::request::chat_body(&self.request, "m", &self.backend, stream)
            .expect("request body");
        let uri = format!(
            "{}{}",
            self.backend.base.origin(),
            self.backend.base.api_path("/chat/completions")
        );
        let req = hyper::Request::post(uri)
            .header("authorization", self.backend.authorization())
            .header("content-type", "application/json")
            .header(
                "accept",
                if stream {
                    "text/event-stream"
                } else {
                    "application/json"
                },
            )
            .header("user-agent", "aios-llm-core-native-bench")
            .header("content-length", body.len())
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        self.http.request(req).await.expect("native request")
    }

    async fn chat(&self) {
        use aios_llm_core::response::{DecodeOptions, Served, decode, parse};
        let response = self.send(false).await;
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let raw = parse(&bytes).expect("a completion");
        let served = Served {
            backend: "native",
            requested_model: "m",
            attempts: 1,
        };
        let r = decode(
            raw,
            &DecodeOptions::for_request(&self.request),
            &mut aios_llm_core::tool_calls::CountingIds::default(),
            &served,
        )
        .expect("decoded");
        assert!(r.content.is_some());
    }

    async fn stream(&self) -> usize {
        use aios_llm_core::response::{DecodeOptions, Served};
        use aios_llm_core::types::StreamEvent;
        let mut body = self.send(true).await.into_body();
        let mut parser = aios_llm_core::sse::SseParser::new();
        let mut assembler =
            aios_llm_core::stream::Assembler::new(DecodeOptions::for_request(&self.request));
        let mut events = Vec::new();
        let mut count = 0;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.expect("frame").into_data() {
                parser.push(&data, &mut |d| assembler.on_data(d, &mut events));
                count += events
                    .iter()
                    .filter(|e| matches!(e, StreamEvent::Content(_)))
                    .count();
                events.clear();
            }
        }
        let served = Served {
            backend: "native",
            requested_model: "m",
            attempts: 1,
        };
        assembler
            .finish(
                &served,
                &mut aios_llm_core::tool_calls::CountingIds::default(),
                &mut events,
            )
            .expect("a complete stream");
        count
    }
}

/// One backend; responses up to 1 GiB (the long stream is ~36 MB, over the 32 MiB default).
fn bench_config(url: &str) -> host::ClientConfig {
    let mut c = host::ClientConfig::single(host::BackendKind::Vllm, url.to_string());
    c.max_response_bytes = Some(1 << 30);
    c
}

async fn component_chat(client: &llm_core_host::Client) {
    let r = client
        .chat(host_request())
        .await
        .map_err(|e| e.message)
        .expect("component chat");
    assert!(r.content.is_some());
}

async fn component_stream(client: &llm_core_host::Client) -> usize {
    use futures::StreamExt;
    let mut stream = client
        .chat_stream(host_request())
        .await
        .expect("component stream");
    let mut count = 0;
    while let Some(event) = stream.next().await {
        match event.map_err(|e| e.message).expect("stream event") {
            host::StreamEvent::Content(_) => count += 1,
            host::StreamEvent::Done(_) => break,
            _ => {}
        }
    }
    count
}

// ------------------------------------------------------------------------------------------
// Workloads, generic over "one call" / "one stream"
// ------------------------------------------------------------------------------------------

/// Per-call latency: p50 and p99 (µs) over `n` sequential calls.
async fn latency<F, Fut>(n: usize, call: F) -> (f64, f64)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    call().await;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        call().await;
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    (times[n / 2], times[n * 99 / 100])
}

/// Calls per second with `concurrency` calls in flight, over `seconds`.
async fn throughput<F, Fut>(seconds: f64, concurrency: usize, call: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let warm: Vec<_> = (0..concurrency)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move { call().await })
        })
        .collect();
    futures::future::join_all(warm).await;
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (call, done) = (call.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    call().await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    futures::future::join_all(workers).await;
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Content events per second over `count` concurrent streams.
async fn streams<F, Fut>(count: usize, stream: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = usize> + Send,
{
    let stream = Arc::new(stream);
    let started = Instant::now();
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let stream = stream.clone();
            tokio::spawn(async move { stream().await })
        })
        .collect();
    let events: usize = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("stream task"))
        .sum();
    events as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn rss_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// RSS added per call while `concurrency` calls are in flight (the server holds answers).
async fn rss_per_call<F, Fut>(concurrency: usize, call: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let before = rss_kib();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            tokio::spawn({
                let call = call.clone();
                async move { call().await }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = rss_kib();
    futures::future::join_all(tasks).await;
    (during - before) / concurrency as f64
}

fn python(python: &str, base_url: &str, mode: &str, n: usize, concurrency: usize) -> Option<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/openai_bench.py");
    let out = std::process::Command::new(python)
        .args([
            script,
            "--base-url",
            base_url,
            "--mode",
            mode,
            "--n",
            &n.to_string(),
            "--concurrency",
            &concurrency.to_string(),
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "openai-python {mode} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

// ------------------------------------------------------------------------------------------

#[derive(Default)]
struct Row {
    name: &'static str,
    unit: &'static str,
    component: Option<f64>,
    native: Option<f64>,
    python: Option<f64>,
    /// Higher is better (throughput) or lower (latency, memory, time).
    higher_better: bool,
    target: &'static str,
}

async fn component_round(core: &LlmCore, servers: &Servers, plan: &Plan) -> Figures {
    let client_for = |url: &str| core.client(bench_config(url));
    let client = client_for(&servers.chat).await.expect("client");
    client.prewarm(64).await.expect("prewarm");
    let (p50, p99) = latency(plan.latency_calls, || component_chat(&client)).await;
    let calls = |c: llm_core_host::Client| {
        move || {
            let c = c.clone();
            async move { component_chat(&c).await }
        }
    };
    let t16 = throughput(plan.throughput_seconds, 16, calls(client.clone())).await;
    let t64 = throughput(plan.throughput_seconds, 64, calls(client.clone())).await;
    let each = |c: llm_core_host::Client| {
        move || {
            let c = c.clone();
            async move { component_stream(&c).await }
        }
    };
    let one = client_for(&servers.one_stream).await.expect("client");
    let s1 = streams(1, each(one)).await;
    let many = client_for(&servers.many_streams).await.expect("client");
    many.prewarm(plan.many_streams).await.expect("prewarm");
    let sn = streams(plan.many_streams, each(many)).await;
    Figures {
        p50,
        p99,
        t16,
        t64,
        s1,
        sn,
    }
}

async fn native_round(servers: &Servers, plan: &Plan) -> Figures {
    let n = Native::new(&servers.chat);
    let (p50, p99) = latency(plan.latency_calls, || n.chat()).await;
    let calls = |n: Native| {
        move || {
            let n = n.clone();
            async move { n.chat().await }
        }
    };
    let t16 = throughput(plan.throughput_seconds, 16, calls(n.clone())).await;
    let t64 = throughput(plan.throughput_seconds, 64, calls(n.clone())).await;
    let each = |n: Native| {
        move || {
            let n = n.clone();
            async move { n.stream().await }
        }
    };
    let s1 = streams(1, each(Native::new(&servers.one_stream))).await;
    let sn = streams(plan.many_streams, each(Native::new(&servers.many_streams))).await;
    Figures {
        p50,
        p99,
        t16,
        t64,
        s1,
        sn,
    }
}

/// Child process: RSS per in-flight call (64 calls held by the slow server) for one client.
fn rss_child(client: &str, url: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let result = rt.block_on(async {
        if client == "native" {
            let n = Native::new(url);
            n.chat().await; // connect and warm
            let per_call = rss_per_call(64, move || {
                let n = n.clone();
                async move { n.chat().await }
            })
            .await;
            json!({"per_call_kib": per_call})
        } else {
            let core = LlmCore::new(HostOptions {
                max_concurrent_calls: 64,
                ..HostOptions::default()
            })
            .expect("component loads");
            let c = core.client(bench_config(url)).await.expect("client");
            component_chat(&c).await;
            let before = rss_kib();
            c.prewarm(64).await.expect("prewarm");
            let per_instance = (rss_kib() - before) / 64.0;
            let per_call = rss_per_call(64, move || {
                let c = c.clone();
                async move { component_chat(&c).await }
            })
            .await;
            json!({"per_call_kib": per_call, "per_instance_kib": per_instance})
        }
    });
    println!("{result}");
}

fn main() {
    let args = args();
    if let Some((client, url)) = &args.rss_child {
        return rss_child(client, url);
    }
    let plan = if args.quick {
        Plan {
            rounds: 1,
            latency_calls: 300,
            throughput_seconds: 0.5,
            one_stream_events: 20_000,
            many_streams: 16,
            events_per_stream: 1000,
            python_calls: 300,
        }
    } else {
        Plan {
            rounds: 3,
            latency_calls: 2000,
            throughput_seconds: 3.0,
            one_stream_events: 200_000,
            many_streams: 64,
            events_per_stream: 4000,
            python_calls: 2000,
        }
    };
    // The server gets its own runtime (one thread), like a separate process would.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let servers_alive = server_rt.block_on(async {
        let chat = ReplayServer::start().await;
        chat.quiet()
            .on("/v1/chat/completions", Reply::json(completion()));
        let one = ReplayServer::start().await;
        one.quiet()
            .on("/v1/chat/completions", stream_reply(plan.one_stream_events));
        let many = ReplayServer::start().await;
        many.quiet()
            .on("/v1/chat/completions", stream_reply(plan.events_per_stream));
        let slow = ReplayServer::start().await;
        slow.quiet().on(
            "/v1/chat/completions",
            Reply::json(completion()).after(Duration::from_millis(1500)),
        );
        [chat, one, many, slow]
    });
    let servers = Servers {
        chat: servers_alive[0].base_url(),
        one_stream: servers_alive[1].base_url(),
        many_streams: servers_alive[2].base_url(),
        slow: servers_alive[3].base_url(),
    };

    let mut rows: Vec<Row> = Vec::new();
    let options = HostOptions {
        max_concurrent_calls: 64,
        ..HostOptions::default()
    };
    rt.block_on(async {
        // Cold start: compile from an empty cache; then a warm compiled cache.
        let cache = std::env::temp_dir().join(format!("llm-core-bench-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&cache);
        let mut cold = Vec::new();
        for _ in 0..2 {
            let t = Instant::now();
            let core = LlmCore::new(HostOptions { compiled_cache: Some(cache.clone()), ..options.clone() }).expect("component loads");
            let client = core.client(bench_config(&servers.chat)).await.expect("client");
            component_chat(&client).await;
            cold.push((t.elapsed().as_secs_f64() * 1e3, core.load_report().elapsed.as_secs_f64() * 1e3));
        }
        let _ = std::fs::remove_dir_all(&cache);

        let core = LlmCore::new(HostOptions { compiled_cache: None, ..options.clone() }).expect("component loads");
        let extra: Vec<(String, LlmCore)> = args
            .components
            .iter()
            .map(|path| {
                let c = LlmCore::from_file(path, HostOptions { compiled_cache: None, ..options.clone() }).expect("extra component loads");
                (path.file_name().unwrap_or_default().to_string_lossy().into_owned(), c)
            })
            .collect();

        // Instantiation (pooling allocator) + client.open, per instance.
        let client = core.client(bench_config(&servers.chat)).await.expect("client");
        let t = Instant::now();
        client.prewarm(200).await.expect("prewarm");
        let instantiate_us = t.elapsed().as_secs_f64() * 1e6 / 199.0;

        // Rounds alternate between the clients, so drift on a shared machine hits all alike.
        let (mut comp, mut nat) = (Vec::new(), Vec::new());
        let mut extras: Vec<Vec<Figures>> = vec![Vec::new(); extra.len()];
        for round in 0..plan.rounds {
            eprintln!("round {}/{}", round + 1, plan.rounds);
            comp.push(component_round(&core, &servers, &plan).await);
            nat.push(native_round(&servers, &plan).await);
            for (i, (_, c)) in extra.iter().enumerate() {
                extras[i].push(component_round(c, &servers, &plan).await);
            }
        }
        let (c, n) = (Figures::median(&comp), Figures::median(&nat));

                // Memory per in-flight call, each client in a fresh process (a shared heap would
        // hide allocations in memory freed by earlier rounds).
        let child = |client: &str| -> Value {
            let out = std::process::Command::new(std::env::current_exe().expect("bench binary"))
                .args(["--rss-child", client, &servers.slow])
                .output()
                .expect("bench child");
            serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
        };
        let (c_mem, n_mem) = (child("component"), child("native"));
        let c_rss = c_mem["per_call_kib"].as_f64().unwrap_or(f64::NAN);
        let per_instance = c_mem["per_instance_kib"].as_f64().unwrap_or(f64::NAN);
        let n_rss = n_mem["per_call_kib"].as_f64().unwrap_or(f64::NAN);

        let py = |url: &str, mode: &str, n: usize, c: usize| args.python.as_deref().and_then(|p| python(p, url, mode, n, c));
        let pick = |v: &Option<Value>, k: &str| v.as_ref().and_then(|v| v.get(k)).and_then(Value::as_f64);
        if args.python.is_some() {
            eprintln!("openai-python ...");
        }
        let pl = py(&servers.chat, "latency", plan.python_calls, 1);
        let pt16 = py(&servers.chat, "throughput", plan.python_calls, 16);
        let pt64 = py(&servers.chat, "throughput", plan.python_calls, 64);
        let ps1 = py(&servers.one_stream, "sse", 0, 1);
        let psn = py(&servers.many_streams, "sse", 0, plan.many_streams);
        let prss = py(&servers.slow, "rss", 0, 64);

        let row = |name, unit, c, n, p, higher_better, target| Row { name, unit, component: c, native: n, python: p, higher_better, target };
        rows.push(row("latency p50, 1 in flight", "µs", Some(c.p50), Some(n.p50), pick(&pl, "p50_us"), false, "≤ 1.15× native"));
        rows.push(row("latency p99, 1 in flight", "µs", Some(c.p99), Some(n.p99), pick(&pl, "p99_us"), false, ""));
        rows.push(row("throughput, 16 in flight", "calls/s", Some(c.t16), Some(n.t16), pick(&pt16, "calls_per_s"), true, ""));
        rows.push(row("throughput, 64 in flight", "calls/s", Some(c.t64), Some(n.t64), pick(&pt64, "calls_per_s"), true, "≥ 0.9× native, ≥ 10× python"));
        rows.push(row("SSE, 1 stream", "events/s", Some(c.s1), Some(n.s1), pick(&ps1, "events_per_s"), true, "≥ 0.9× native, ≥ 200000"));
        rows.push(row("SSE, many streams", "events/s", Some(c.sn), Some(n.sn), pick(&psn, "events_per_s"), true, "≥ 0.9× native"));
        rows.push(row("RSS per in-flight call", "KiB", Some(c_rss), Some(n_rss), pick(&prss, "rss_per_call_kib"), false, ""));
        rows.push(row("RSS per warm instance", "KiB", Some(per_instance), None, None, false, ""));
        rows.push(row("instantiate + client.open", "µs", Some(instantiate_us), None, None, false, "≤ 50"));
        rows.push(row("cold start, empty cache", "ms", Some(cold[0].0), None, None, false, ""));
        rows.push(row("  of which compile", "ms", Some(cold[0].1), None, None, false, ""));
        rows.push(row("cold start, warm cache", "ms", Some(cold[1].0), None, None, false, "≤ 10"));
        rows.push(row("  of which cache load", "ms", Some(cold[1].1), None, None, false, ""));
        rows.push(row("component size", "KB", Some(llm_core_host::EMBEDDED_COMPONENT.len() as f64 / 1000.0), None, None, false, "≤ 400"));
        for ((label, _), figures) in extra.iter().zip(&extras) {
            let f = Figures::median(figures);
            let size = std::fs::metadata(args.components.iter().find(|p| p.ends_with(label)).expect("path")).map(|m| m.len()).unwrap_or(0);
            println!(
                "also measured: {label} ({:.0} KB): p50 {:.1} µs, {:.0} / {:.0} calls/s at 16 / 64 in flight, SSE {:.0} / {:.0} events/s",
                size as f64 / 1000.0,
                f.p50,
                f.t16,
                f.t64,
                f.s1,
                f.sn
            );
        }
    });
    drop(servers_alive);
    drop(server_rt);
    report(&rows, &args);
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
        c.lines().find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
    });
    let mem = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .next()
            .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
    });
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory_gib": mem.and_then(|kb| kb.parse::<f64>().ok()).map(|kb| (kb / 1048576.0 * 10.0).round() / 10.0),
        "os": std::env::consts::OS,
    })
}

fn report(rows: &[Row], args: &Args) {
    let m = machine();
    println!(
        "\naios-llm-core benchmark — {} ({} cores, {} GiB){}\n",
        m["cpu"].as_str().unwrap_or("?"),
        m["cores"],
        m["memory_gib"],
        if args.quick { ", quick" } else { "" }
    );
    println!(
        "{:<28} {:>9} {:>12} {:>12} {:>12} {:>10} {:>10}  target",
        "figure", "unit", "component", "native", "openai-py", "c/native", "c/python"
    );
    let fmt = |v: Option<f64>| {
        v.map(|v| {
            if v >= 100.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        })
        .unwrap_or_else(|| "-".into())
    };
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => format!("{:.2}×", a / b),
        _ => "-".into(),
    };
    let mut out = Vec::new();
    for r in rows {
        println!(
            "{:<28} {:>9} {:>12} {:>12} {:>12} {:>10} {:>10}  {}",
            r.name,
            r.unit,
            fmt(r.component),
            fmt(r.native),
            fmt(r.python),
            ratio(r.component, r.native),
            ratio(r.component, r.python),
            r.target
        );
        out.push(json!({
            "figure": r.name, "unit": r.unit, "component": r.component, "native": r.native, "openai_python": r.python,
            "component_over_native": r.component.zip(r.native).map(|(a, b)| a / b),
            "component_over_python": r.component.zip(r.python).map(|(a, b)| a / b),
            "higher_is_better": r.higher_better, "target": r.target,
        }));
    }
    if let Some(dir) = args.json.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let doc = json!({"machine": m, "quick": args.quick, "rows": out});
    match std::fs::write(
        &args.json,
        serde_json::to_string_pretty(&doc).unwrap_or_default(),
    ) {
        Ok(()) => println!("\nJSON: {}", args.json.display()),
        Err(e) => eprintln!("cannot write {}: {e}", args.json.display()),
    }
}
