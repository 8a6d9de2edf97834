//! The component in the wasmtime host, side by side with a native Rust client and
//! openai-python, in one run, against one loopback server of ours.
//!
//! `scripts/bench` runs it (`cargo bench -p aios-llm-core-tests --bench compare -- [--quick]
//! [--json FILE] [--python PYTHON] [--component FILE ...]`); BENCHMARKS.md explains the
//! figures.
//!
//! The native client is the practical limit: the very same request building, response
//! parsing, SSE parsing and stream assembly (the component crate's modules, compiled natively)
//! over a pooled keep-alive hyper client. The difference to it is what the sandbox costs.
mod args;
mod clients;
mod report;
mod workloads;

use args::Plan;
use clients::{
    EMBED_DIMS, EMBED_TEXTS, Native, bench_config, component_chat, component_embed,
    component_stream,
};
use llm_core_host::{HostOptions, LlmCore};
use replay_server::{ReplayServer, Reply, replies};
use report::{Row, report};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use workloads::{Figures, latency, python, rss_kib, rss_per_call, streams, throughput};

/// The loopback servers: plain chat (and embeddings), one long stream, many shorter
/// streams, slow chat.
struct Servers {
    chat: String,
    one_stream: String,
    many_streams: String,
    slow: String,
}

/// The plain chat answer: vLLM's shape, one sentence.
fn completion() -> Reply {
    replies::text(
        "The sea breathes against the shore, patient and endless, keeping every secret the tide has ever carried.",
    )
}

/// A vLLM-shaped stream of `events` content deltas, sent 64 events per write.
fn stream_reply(events: usize) -> Reply {
    let role = replies::chunk(json!({"role": "assistant", "content": ""}), None);
    let token = replies::event(&replies::content_chunk(" tok"));
    let mut parts = vec![replies::event(&role)];
    let mut left = events;
    while left > 0 {
        let n = left.min(64);
        parts.push(token.repeat(n));
        left -= n;
    }
    let usage = replies::usage_chunk(28, u32::try_from(events).unwrap_or(u32::MAX));
    parts.push(
        replies::event(&replies::finish_chunk("stop"))
            + &replies::event(&usage)
            + &replies::event(replies::DONE),
    );
    Reply::sse_raw(parts)
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
    let (t16, cpu16) = throughput(plan.throughput_seconds, 16, calls(client.clone())).await;
    let (t64, _) = throughput(plan.throughput_seconds, 64, calls(client.clone())).await;
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
    let embeds = move || {
        let c = client.clone();
        async move { component_embed(&c).await }
    };
    let (emb, _) = throughput(plan.throughput_seconds, 16, embeds).await;
    Figures {
        p50,
        p99,
        t16,
        t64,
        s1,
        sn,
        emb,
        cpu16,
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
    let (t16, cpu16) = throughput(plan.throughput_seconds, 16, calls(n.clone())).await;
    let (t64, _) = throughput(plan.throughput_seconds, 64, calls(n.clone())).await;
    let each = |n: Native| {
        move || {
            let n = n.clone();
            async move { n.stream().await }
        }
    };
    let s1 = streams(1, each(Native::new(&servers.one_stream))).await;
    let sn = streams(plan.many_streams, each(Native::new(&servers.many_streams))).await;
    let embeds = move || {
        let n = n.clone();
        async move { n.embed().await }
    };
    let (emb, _) = throughput(plan.throughput_seconds, 16, embeds).await;
    Figures {
        p50,
        p99,
        t16,
        t64,
        s1,
        sn,
        emb,
        cpu16,
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
    let args = args::parse();
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
        chat.quiet().on("/v1/chat/completions", completion());
        chat.on(
            "/v1/embeddings",
            replies::embeddings(EMBED_TEXTS, EMBED_DIMS),
        );
        let one = ReplayServer::start().await;
        one.quiet()
            .on("/v1/chat/completions", stream_reply(plan.one_stream_events));
        let many = ReplayServer::start().await;
        many.quiet()
            .on("/v1/chat/completions", stream_reply(plan.events_per_stream));
        let slow = ReplayServer::start().await;
        slow.quiet().on(
            "/v1/chat/completions",
            completion().after(Duration::from_millis(1500)),
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
    // The long stream (~36 MB) is over the 16 MiB default response cap; it is streamed
    // through, never held, so the cap is lifted for the benchmark.
    let options = HostOptions {
        max_concurrent_calls: 64,
        max_response_bytes: 1 << 30,
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
        let pemb = py(&servers.chat, "embed", plan.python_calls, 16);
        let texts = |calls: f64| calls * EMBED_TEXTS as f64;

        let row = |name, unit, c, n, p, higher_better, target| Row { name, unit, component: c, native: n, python: p, higher_better, target };
        rows.push(row("latency p50, 1 in flight", "µs", Some(c.p50), Some(n.p50), pick(&pl, "p50_us"), false, "≤ 1.15× native"));
        rows.push(row("latency p99, 1 in flight", "µs", Some(c.p99), Some(n.p99), pick(&pl, "p99_us"), false, ""));
        rows.push(row("throughput, 16 in flight", "calls/s", Some(c.t16), Some(n.t16), pick(&pt16, "calls_per_s"), true, ""));
        rows.push(row("CPU per call, 16 in flight", "µs", Some(c.cpu16), Some(n.cpu16), None, false, ""));
        rows.push(row("throughput, 64 in flight", "calls/s", Some(c.t64), Some(n.t64), pick(&pt64, "calls_per_s"), true, "≥ 0.9× native, ≥ 10× python"));
        rows.push(row("SSE, 1 stream", "events/s", Some(c.s1), Some(n.s1), pick(&ps1, "events_per_s"), true, "≥ 0.9× native, ≥ 200000"));
        rows.push(row("SSE, many streams", "events/s", Some(c.sn), Some(n.sn), pick(&psn, "events_per_s"), true, "≥ 0.9× native"));
        rows.push(row("embeddings (16 texts), 16 in flight", "texts/s", Some(texts(c.emb)), Some(texts(n.emb)), pick(&pemb, "calls_per_s").map(texts), true, ""));
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
