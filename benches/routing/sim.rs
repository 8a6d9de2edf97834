//! The simulated mode: a fresh fleet of simulated servers per strategy
//! (`replay_server::sim_fleet`), a thousand agents through the host library, then one
//! server killed and one more turn, to count the sessions that move.

use crate::agents::{self, Agent, Call, Workload};
use crate::live::configure;
use crate::report::{Summary, ratio};
use crate::{Args, finish, load_average};
use llm_core_host::types::{BackendConfig, BackendKind, ClientConfig};
use llm_core_host::{HostOptions, LlmCore};
use replay_server::sim_fleet::{SimConfig, SimFleet};
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One strategy's figures beyond the common ones.
struct Row {
    summary: Summary,
    /// Sessions whose server changed from one turn to the next, all servers up.
    churn: f64,
    /// Sessions whose server changed in the turn after one server died.
    moved: f64,
    /// Sessions whose last turn the dead server answered (they must move).
    on_dead: usize,
    /// Sessions that answered the last turn before the death.
    sessions: usize,
    /// Of those on the dead server, and of the others.
    moved_from_dead: usize,
    moved_others: usize,
    death_hit_ratio: f64,
    death_failed: usize,
}

fn backend_by_agent(calls: &[Call], turn: usize) -> HashMap<usize, String> {
    calls
        .iter()
        .filter(|c| c.turn == turn && c.error.is_none())
        .map(|c| (c.agent, c.backend.clone()))
        .collect()
}

fn changed(a: &HashMap<usize, String>, b: &HashMap<usize, String>) -> usize {
    a.iter()
        .filter(|(agent, s)| b.get(agent).is_some_and(|t| t != *s))
        .count()
}

pub async fn run(a: &Args) {
    let n = a.servers;
    let w = Workload {
        agents: a.agents.unwrap_or(1000),
        turns: a.turns.unwrap_or(4),
        system_words: a.system_words.unwrap_or(1000),
        user_words: a.user_words,
        max_tokens: a.max_tokens,
        model: "m".into(),
        stream: false,
        run: "sim".into(),
    };
    assert!(w.turns >= 2, "--turns must be at least 2");
    // The working set: every agent's whole conversation at its last turn (words ≈ tokens).
    let per_agent = w.system_words + 20 + w.turns * (w.user_words + 12);
    let capacity = a
        .capacity_tokens
        .unwrap_or(per_agent * w.agents * 3 / 2 / n.max(1));
    let sim = SimConfig {
        capacity_tokens: capacity,
        per_uncached_token: Duration::from_micros(a.per_token_us),
        ..SimConfig::default()
    };
    let options = HostOptions {
        max_concurrent_calls: a.concurrency,
        ..HostOptions::default()
    };
    let core = LlmCore::new(options).expect("host");
    let names: Vec<String> = (0..n).map(|i| format!("s{i:02}")).collect();
    let loads_before = load_average();
    let mut rows = Vec::new();
    for s in &a.strategies {
        let fleet = SimFleet::start(n, sim).await;
        let backends = fleet
            .base_urls()
            .into_iter()
            .zip(&names)
            .map(|(u, name)| {
                let mut b = BackendConfig::new(BackendKind::Vllm, u);
                b.name = Some(name.clone());
                b.models = vec!["m".into()];
                b
            })
            .collect();
        let mut cfg = ClientConfig::new(backends);
        configure(&mut cfg, s);
        cfg.metrics_ttl_ms = a.metrics_ttl_ms;
        let client = core.client(cfg).await.expect("client");
        let crew: Vec<Agent> = (0..w.agents).map(|id| Agent::new(&w, id)).collect();
        let t0 = Instant::now();
        let (crew, calls) = agents::run(&client, &w, crew, 0..w.turns).await;
        let wall = t0.elapsed();
        let summary = Summary::new(s, wall, &calls, &names);
        let last = backend_by_agent(&calls, w.turns - 1);
        let before = backend_by_agent(&calls, w.turns - 2);
        // One server dies; every agent sends one more turn.
        fleet.kill(0);
        let (_, after) = agents::run(&client, &w, crew, w.turns..w.turns + 1).await;
        let next = backend_by_agent(&after, w.turns);
        let on_dead: Vec<usize> = last
            .iter()
            .filter(|(_, b)| *b == &names[0])
            .map(|(a, _)| *a)
            .collect();
        let moved = changed(&last, &next);
        let moved_from_dead = on_dead.iter().filter(|a| next.contains_key(a)).count();
        let prompt: u64 = after.iter().map(|c| u64::from(c.prompt_tokens)).sum();
        let cached: u64 = after.iter().map(|c| u64::from(c.cached_tokens)).sum();
        let row = Row {
            churn: ratio(changed(&before, &last) as u64, last.len() as u64),
            moved: ratio(moved as u64, next.len() as u64),
            on_dead: on_dead.len(),
            sessions: last.len(),
            moved_from_dead,
            moved_others: moved - moved_from_dead,
            death_hit_ratio: ratio(cached, prompt),
            death_failed: after.iter().filter(|c| c.error.is_some()).count(),
            summary,
        };
        eprintln!(
            "== {s}: {:.1} s, hit {:.1}%, max/mean {:.2}, moved {:.1}% (load average {})",
            wall.as_secs_f64(),
            100.0 * row.summary.hit_ratio(),
            row.summary.imbalance(),
            100.0 * row.moved,
            load_average()
        );
        let mut errors: HashMap<String, usize> = HashMap::new();
        for c in calls.iter().chain(&after) {
            if let Some(e) = &c.error {
                *errors.entry(e.chars().take(120).collect()).or_default() += 1;
            }
        }
        for (e, count) in errors {
            eprintln!("   {count} failed: {e}");
        }
        rows.push(row);
    }
    println!(
        "{} simulated servers, {} agents x {} turns, cache {} tokens per server (working set {} tokens), prefill {} µs per uncached token\n",
        n,
        w.agents,
        w.turns,
        capacity,
        per_agent * w.agents,
        a.per_token_us
    );
    finish(
        a,
        &table(&rows, n),
        &loads_before,
        "routing-sim.json",
        json!({
            "mode": "sim", "servers": n, "agents": w.agents, "turns": w.turns,
            "capacity_tokens": capacity, "per_token_us": a.per_token_us,
            "strategies": rows.iter().map(|r| {
                let mut v = r.summary.json();
                v["churn"] = json!(r.churn);
                v["moved_after_death"] = json!(r.moved);
                v["on_dead_server"] = json!(r.on_dead);
                v["moved_from_dead"] = json!(r.moved_from_dead);
                v["moved_others"] = json!(r.moved_others);
                v["death_turn_hit_ratio"] = json!(r.death_hit_ratio);
                v["death_turn_failed"] = json!(r.death_failed);
                v
            }).collect::<Vec<_>>(),
        }),
    );
}

fn table(rows: &[Row], n: usize) -> String {
    let mut out = format!(
        "| strategy | wall s | calls/s | hit ratio | hit after turn 1 | max ÷ mean calls | sessions moving per turn | on the server that dies | moved when 1 of {n} dies (from it / from the others) | hit ratio in that turn | failed |\n|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|\n"
    );
    for r in rows {
        let s = &r.summary;
        out += &format!(
            "| {} | {:.1} | {:.0} | {:.1}% | {:.1}% | {:.2} | {:.1}% | {:.1}% | {:.1}% ({} / {}) | {:.1}% | {} |\n",
            s.strategy,
            s.wall.as_secs_f64(),
            s.throughput(),
            100.0 * s.hit_ratio(),
            100.0 * s.later_hit_ratio(),
            s.imbalance(),
            100.0 * r.churn,
            100.0 * ratio(r.on_dead as u64, r.sessions as u64),
            100.0 * r.moved,
            r.moved_from_dead,
            r.moved_others,
            100.0 * r.death_hit_ratio,
            s.failed + r.death_failed,
        );
    }
    out
}
