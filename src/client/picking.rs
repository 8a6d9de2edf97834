//! Choosing the backend of the next attempt: refresh the servers' `/metrics` readings that
//! `least-loaded` needs, let the router pick, and — when configured — confirm that a backend
//! coming back from a cooldown answers `/health` before trusting it with the call.

use super::Client;
use crate::io::{Deadline, Io};
use crate::routing::router::Candidate;
use crate::routing::{BackendId, Route, affinity};
use crate::types::RoutingStrategy;
use crate::wire::metrics;

/// Limit for a `/metrics` read made on the way to a chat call: a load reading only tunes
/// routing and must not hold the call up for long.
const METRICS_PROBE_MS: u64 = 1_000;
/// A backend without readable metrics is asked again after this many metrics TTLs.
const METRICS_MISS_TTLS: u64 = 30;

/// Whether a load reading may come from the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reading {
    /// Within `metrics-ttl-ms`, the remembered reading.
    Cached,
    /// Always ask the server.
    Fresh,
}

impl<I: Io> Client<I> {
    /// Picks a backend among `eligible`, avoiding `tried` ones when others remain.
    pub(super) fn pick(
        &self,
        eligible: &[BackendId],
        tried: &[BackendId],
        deadline: Deadline,
        route: Route,
    ) -> BackendId {
        if matches!(
            self.state().router.strategy(),
            RoutingStrategy::LeastLoaded | RoutingStrategy::CacheAware
        ) {
            let now = self.io().now_ms();
            let open: Vec<BackendId> = eligible
                .iter()
                .copied()
                .filter(|b| self.state().backends[b.0].cooling(now).is_none())
                .collect();
            self.read_loads(&open, deadline, Reading::Cached);
        }
        let mut excluded = tried.to_vec();
        loop {
            let now = self.io().now_ms();
            let chosen = self.route_once(eligible, &excluded, now, route);
            let recovering = self.state().backends[chosen.0].recovering(now);
            if !(self.settings().cooldown.probe_health && recovering) || excluded.contains(&chosen)
            {
                return chosen;
            }
            if self.probe(chosen, "/health", deadline).is_ok() {
                return chosen;
            }
            let cooldown = self.settings().cooldown;
            self.state().backends[chosen.0].failed(now, &cooldown, None);
            excluded.push(chosen);
        }
    }

    /// One routing decision, counted as a running attempt on the chosen backend until it ends.
    fn route_once(
        &self,
        eligible: &[BackendId],
        excluded: &[BackendId],
        now_ms: u64,
        route: Route,
    ) -> BackendId {
        let mut guard = self.state();
        let state = &mut *guard;
        let all: Vec<Candidate<'_>> = self
            .settings()
            .backends
            .iter()
            .zip(&state.backends)
            .map(|(config, state)| Candidate {
                weight: config.weight,
                state,
                key: affinity::stable_hash(&[config.name.as_bytes()]),
            })
            .collect();
        let chosen = state
            .router
            .pick(eligible, excluded, now_ms, &all, &mut state.rng, route)
            .unwrap_or(eligible[0]);
        drop(all);
        state.backends[chosen.0].picked();
        chosen
    }

    /// The backend's load from `/metrics` (running + waiting requests), cached for
    /// `metrics-ttl-ms`; a backend without readable metrics is asked again only after
    /// [`METRICS_MISS_TTLS`] times that.
    pub(super) fn read_load(
        &self,
        b: BackendId,
        deadline: Deadline,
        reading: Reading,
    ) -> Option<f64> {
        self.read_loads(&[b], deadline, reading).pop().flatten()
    }

    /// [`Client::read_load`] of several backends: those without a usable cached reading are
    /// asked together, so a routing decision over many servers waits for the slowest
    /// answer, not for each in turn. The loads in the order of `backends`.
    pub(super) fn read_loads(
        &self,
        backends: &[BackendId],
        deadline: Deadline,
        reading: Reading,
    ) -> Vec<Option<f64>> {
        let now = self.io().now_ms();
        let ttl = self.settings().metrics_ttl_ms;
        let mut loads = Vec::with_capacity(backends.len());
        // Positions in `backends` without a usable cached reading.
        let mut stale = Vec::new();
        for (i, b) in backends.iter().enumerate() {
            let cached = match reading {
                Reading::Cached => self.state().backends[b.0].reading(now, ttl, METRICS_MISS_TTLS),
                Reading::Fresh => None,
            };
            if cached.is_none() {
                stale.push(i);
            }
            loads.push(cached.flatten());
        }
        if !stale.is_empty() {
            let deadline = deadline.within_ms(self.io().now_ns(), METRICS_PROBE_MS);
            let ids: Vec<BackendId> = stale.iter().map(|&i| backends[i]).collect();
            let texts = self.probe_all(&ids, "/metrics", deadline);
            for (&i, text) in stale.iter().zip(texts) {
                let load = text.ok().and_then(|text| metrics::load(&text));
                self.state().backends[backends[i].0].record_reading(load, now);
                loads[i] = load;
            }
        }
        loads
    }
}
