//! The live mode: two llama.cpp servers (scripts/local-server, one CPU thread each),
//! restarted before every strategy so that each starts with empty prompt caches, and the
//! agents' workload through the host library against both.

use crate::agents::{self, Agent, Workload};
use crate::report::{Summary, live_table};
use crate::{Args, finish, load_average, repo_root};
use llm_core_host::types::{BackendConfig, BackendKind, ClientConfig};
use llm_core_host::{HostOptions, LlmCore};
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::Instant;

const NAMES: [&str; 2] = ["routing-a", "routing-b"];

/// Applies a strategy given as `NAME` or `cache-aware:MARGIN` to a configuration.
pub fn configure(cfg: &mut ClientConfig, spec: &str) {
    let (name, margin) = match spec.split_once(':') {
        Some((n, m)) => (
            n,
            Some(m.parse().expect("cache-aware:MARGIN takes a number")),
        ),
        None => (spec, None),
    };
    cfg.routing = Some(strategy(name));
    cfg.cache_aware_margin = margin;
}

fn strategy(name: &str) -> llm_core_host::types::RoutingStrategy {
    use llm_core_host::types::RoutingStrategy as R;
    match name {
        "sequential" => R::Sequential,
        "weighted" => R::Weighted,
        "least-loaded" => R::LeastLoaded,
        "cache-aware" => R::CacheAware,
        "priority" => R::Priority,
        other => panic!("unknown strategy {other}"),
    }
}

fn local_server(args: &[String]) -> String {
    let out = Command::new(repo_root().join("scripts/local-server"))
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/local-server runs");
    assert!(out.status.success(), "scripts/local-server {args:?} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn start(a: &Args, name: &str) -> String {
    let mut args: Vec<String> = ["start", "--name", name, "--model", &a.model, "--"]
        .map(String::from)
        .to_vec();
    args.extend(
        [
            "-t",
            &a.threads.to_string(),
            "-np",
            &a.parallel.to_string(),
            "-c",
            &a.ctx.to_string(),
        ]
        .map(String::from),
    );
    args.extend(a.server_args.iter().cloned());
    local_server(&args)
        .lines()
        .last()
        .expect("a URL")
        .to_string()
}

fn stop(name: &str) {
    local_server(&["stop".into(), "--name".into(), name.into()]);
}

/// A counter from a llama.cpp server's `/metrics`.
fn metric(url: &str, name: &str) -> Option<f64> {
    let root = url.trim_end_matches("/v1");
    let out = Command::new("curl")
        .args(["-fsS", "--max-time", "5", &format!("{root}/metrics")])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
}

pub async fn run(a: &Args) {
    let core = LlmCore::new(HostOptions::default()).expect("host");
    let mut rows = Vec::new();
    let mut server_side = Vec::new();
    let loads_before = load_average();
    for (i, s) in a.strategies.iter().enumerate() {
        let w = Workload {
            agents: a.agents.unwrap_or(5),
            turns: a.turns.unwrap_or(8),
            system_words: a.system_words.unwrap_or(900),
            user_words: a.user_words,
            max_tokens: a.max_tokens,
            model: a.model.clone(),
            stream: a.stream,
            run: format!("{i}"),
        };
        let urls: Vec<String> = NAMES.iter().map(|n| start(a, n)).collect();
        let backends: Vec<BackendConfig> = urls
            .iter()
            .zip(NAMES)
            .map(|(u, n)| {
                let mut b = BackendConfig::new(BackendKind::OpenaiCompatible, u.clone());
                b.name = Some(n.into());
                b.models = vec![a.model.clone()];
                b
            })
            .collect();
        let mut cfg = ClientConfig::new(backends);
        configure(&mut cfg, s);
        cfg.metrics_ttl_ms = a.metrics_ttl_ms;
        let client = core.client(cfg).await.expect("client");
        eprintln!(
            "== {s}: {} agents x {} turns (load average {})",
            w.agents,
            w.turns,
            load_average()
        );
        let crew: Vec<Agent> = (0..w.agents).map(|id| Agent::new(&w, id)).collect();
        let t0 = Instant::now();
        let (_, calls) = agents::run(&client, &w, crew, 0..w.turns).await;
        let wall = t0.elapsed();
        let row = Summary::new(s, wall, &calls, &NAMES.map(String::from));
        let processed: f64 = urls
            .iter()
            .filter_map(|u| metric(u, "llamacpp:prompt_tokens_total"))
            .sum();
        eprintln!(
            "   {:.1} s, {:.1}% cached after turn 1, servers processed {processed} prompt tokens (load average {})",
            wall.as_secs_f64(),
            100.0 * row.later_hit_ratio(),
            load_average()
        );
        for c in calls.iter().filter(|c| c.error.is_some()) {
            eprintln!(
                "   failed: agent {} turn {}: {:?}",
                c.agent, c.turn, c.error
            );
        }
        server_side.push(json!({"strategy": s, "server_prompt_tokens_total": processed}));
        rows.push(row);
        for n in NAMES {
            stop(n);
        }
    }
    finish(
        a,
        &live_table(&rows),
        &loads_before,
        "routing-live.json",
        json!({
            "mode": "live", "model": a.model, "parallel": a.parallel, "ctx": a.ctx,
            "threads": a.threads, "server_args": a.server_args, "ttft": a.stream,
            "strategies": rows.iter().map(Summary::json).collect::<Vec<_>>(),
            "server_side": server_side,
        }),
    );
}
