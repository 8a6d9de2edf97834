//! Routing against the simulated fleet (`replay_server::sim_fleet`, the routing benchmark's
//! servers): the prefix-cache model reports cached tokens the client reads, `cache-aware`
//! keeps conversations where their prefix is cached and round-robin does not, and a dead
//! server moves only the sessions it held.

use crate::support::core;
use llm_core_host::Client;
use llm_core_host::types::{
    BackendConfig, BackendKind, ChatRequest, ClientConfig, Message, RoutingStrategy,
};
use replay_server::sim_fleet::{SimConfig, SimFleet};
use std::collections::HashMap;
use std::time::Duration;

const SERVERS: usize = 4;
// Not a multiple of SERVERS, so that round-robin does not pin agents by accident.
const AGENTS: usize = 25;

async fn client(fleet: &SimFleet, routing: RoutingStrategy) -> Client {
    let backends = fleet
        .base_urls()
        .into_iter()
        .enumerate()
        .map(|(i, url)| {
            let mut b = BackendConfig::new(BackendKind::Vllm, url);
            b.name = Some(format!("s{i}"));
            b.models = vec!["m".into()];
            b
        })
        .collect();
    let mut cfg = ClientConfig::new(backends);
    cfg.routing = Some(routing);
    // The default `/metrics` TTL: these calls, one after another, finish far faster than it,
    // and a finished call is no load (it once counted until the next reading, so
    // `cache-aware` saw idle backends as busy and moved sessions).
    cfg.retry.initial_backoff_ms = Some(10);
    core().client(cfg).await.expect("client")
}

/// Every agent sends `turns` more turns (agents one after another, turns in order); returns
/// each agent's last backend and the cached share of the prompt tokens of turns after the
/// first.
async fn converse(
    c: &Client,
    histories: &mut [Vec<Message>],
    turns: usize,
) -> (HashMap<usize, String>, f64) {
    let (mut prompt, mut cached, mut last) = (0u64, 0u64, HashMap::new());
    for _ in 0..turns {
        for (agent, history) in histories.iter_mut().enumerate() {
            let first = history.len() == 1;
            history.push(Message::user(format!(
                "agent {agent} asks turn {}",
                history.len()
            )));
            let mut req = ChatRequest::new(history.clone());
            req.model = Some("m".into());
            req.session_id = Some(format!("agent-{agent}"));
            let r = c.chat(req).await.expect("chat");
            let usage = r.usage.expect("usage");
            if !first {
                prompt += u64::from(usage.prompt_tokens);
                cached += u64::from(usage.cached_tokens.expect("cached tokens reported"));
            }
            history.push(Message::assistant(r.content.unwrap_or_default()));
            last.insert(agent, r.backend);
        }
    }
    (last, cached as f64 / prompt.max(1) as f64)
}

fn agents() -> Vec<Vec<Message>> {
    (0..AGENTS)
        .map(|a| {
            let words: Vec<String> = (0..200).map(|i| format!("rule{a}x{i}")).collect();
            vec![Message::system(words.join(" "))]
        })
        .collect()
}

fn config() -> SimConfig {
    SimConfig {
        // Room for a fair share of the conversations, not for all of them.
        capacity_tokens: 2 * AGENTS * 300 / SERVERS,
        per_uncached_token: Duration::ZERO,
        decode: Duration::ZERO,
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cache_aware_routing_finds_prefixes_cached_and_round_robin_does_not() {
    let fleet = SimFleet::start(SERVERS, config()).await;
    let mut histories = agents();
    let c = client(&fleet, RoutingStrategy::CacheAware).await;
    let (_, hit) = converse(&c, &mut histories, 3).await;
    // All but the partial last block of the previous turn and the new messages: ~0.88.
    assert!(hit > 0.8, "cache-aware hit ratio {hit}");

    let fleet = SimFleet::start(SERVERS, config()).await;
    let mut histories = agents();
    let c = client(&fleet, RoutingStrategy::Sequential).await;
    let (_, hit) = converse(&c, &mut histories, 3).await;
    assert!(hit < 0.5, "round-robin hit ratio {hit}");
    let stats = fleet.stats();
    assert_eq!(
        stats.iter().map(|s| s.calls).sum::<u64>(),
        3 * AGENTS as u64
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_server_moves_only_its_sessions_under_cache_aware_routing() {
    let fleet = SimFleet::start(SERVERS, config()).await;
    let mut histories = agents();
    let c = client(&fleet, RoutingStrategy::CacheAware).await;
    let (before, _) = converse(&c, &mut histories, 2).await;
    fleet.kill(0);
    let (after, _) = converse(&c, &mut histories, 1).await;
    for (agent, was) in &before {
        let now = &after[agent];
        if was == "s0" {
            assert_ne!(now, "s0", "agent {agent} left the dead server");
        } else {
            assert_eq!(now, was, "agent {agent} stayed where it was");
        }
    }
}
