//! Randomized server behaviour through the real component: one client, the behaviours of
//! `faults` one after another, each followed by a plain call on the same client (the
//! instance must stay usable).
//!
//! `CHAOS_RUNS` (default 150) and `CHAOS_SEED` choose the run.

use crate::faults::{Rng, call, client_config, script};
use crate::support::*;
use replay_server::{ReplayServer, replies};

#[tokio::test(flavor = "multi_thread")]
async fn random_server_behaviour_keeps_the_invariants_and_the_instance() {
    let runs: usize = std::env::var("CHAOS_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let seed: u64 = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let mut rng = Rng::new(seed);
    let server = ReplayServer::start().await;
    server.quiet();
    let client = core()
        .client(client_config(&server.base_url()))
        .await
        .expect("valid config");
    let mut codes = std::collections::BTreeMap::new();
    for i in 0..runs {
        let s = script(&mut rng);
        server.push(CHAT, s.reply.clone());
        let code = call(&client, &s, None, &i.to_string()).await;
        *codes.entry(format!("{code:?}")).or_insert(0) += 1;
        // The same client (and instance pool) answers a plain call next.
        server.push(CHAT, replies::text("fine"));
        let r = client.chat(ask("again")).await;
        assert_eq!(
            r.map(|r| r.content),
            Ok(Some("fine".into())),
            "after call {i}"
        );
    }
    eprintln!("chaos: seed {seed}, {runs} calls, outcomes {codes:?}");
}
