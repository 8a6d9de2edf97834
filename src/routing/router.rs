//! Choosing a backend for one attempt.
//!
//! Strategies: `sequential` (round-robin), `priority` (first healthy in order), `weighted`
//! (random by weight), `least-loaded` (fewest running + waiting requests per the servers' own
//! `/metrics`, per unit of weight; round-robin when a candidate's load is unknown).
//! A backend that failed is cooling down: skipped while another candidate is not; when all
//! are, the one whose cooldown ends first is tried rather than failing without trying.

use crate::routing::affinity;
use crate::routing::backends::{BackendId, BackendState};
use crate::routing::rng::Rng;
use crate::types::RoutingStrategy;

/// A candidate as the router sees it: configuration weight and remembered state.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// Relative share of traffic (at least 1).
    pub weight: u32,
    /// What the client remembers about it.
    pub state: &'a BackendState,
    /// Its stable identity for `cache-aware` ranking (a hash of its name).
    pub key: u64,
}

/// What one call tells routing besides its candidates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Route {
    /// The host's numbering of the call: round-robin turns follow it.
    pub ticket: Option<u64>,
    /// The call's session key, for `cache-aware` (see `affinity`).
    pub affinity: Option<u64>,
}

/// The strategy and the round-robin cursor of one client.
#[derive(Clone, Debug)]
pub struct Router {
    strategy: RoutingStrategy,
    cursor: usize,
    /// `cache-aware`: load above the least-loaded backend a session's backend may carry.
    margin: f64,
}

impl Router {
    /// A router over `backends` backends whose round-robin starts at `start`.
    pub fn new(strategy: RoutingStrategy, backends: usize, start: usize) -> Router {
        Router {
            strategy,
            // A random start keeps many client instances from marching in lock-step.
            cursor: start % backends.max(1),
            margin: 4.0,
        }
    }

    /// The same router with this `cache-aware` load margin.
    pub fn with_margin(mut self, margin: u32) -> Router {
        self.margin = f64::from(margin);
        self
    }

    /// The configured strategy.
    pub fn strategy(&self) -> RoutingStrategy {
        self.strategy
    }

    /// Picks among `eligible` (configuration order, non-empty), avoiding `tried` backends
    /// when others remain. `all` is indexed by backend id. With a `ticket` (the host's
    /// numbering of calls), round-robin turns follow the ticket instead of the cursor.
    pub fn pick(
        &mut self,
        eligible: &[BackendId],
        tried: &[BackendId],
        now_ms: u64,
        all: &[Candidate<'_>],
        rng: &mut Rng,
        route: Route,
    ) -> Option<BackendId> {
        let ticket = route.ticket;
        let fresh: Vec<BackendId> = eligible
            .iter()
            .copied()
            .filter(|b| !tried.contains(b))
            .collect();
        let pool = if fresh.is_empty() {
            eligible.to_vec()
        } else {
            fresh
        };
        let state = |b: BackendId| all.get(b.0).map(|c| c.state);
        let healthy: Vec<BackendId> = pool
            .iter()
            .copied()
            .filter(|&b| state(b).is_some_and(|s| s.cooling(now_ms).is_none()))
            .collect();
        if healthy.is_empty() {
            return pool
                .iter()
                .copied()
                .min_by_key(|&b| state(b).map_or(u64::MAX, BackendState::cooling_until_ms));
        }
        match self.strategy {
            RoutingStrategy::Priority => healthy.first().copied(),
            RoutingStrategy::Sequential => self.round_robin(&healthy, ticket),
            RoutingStrategy::Weighted => weighted(&healthy, all, rng),
            RoutingStrategy::LeastLoaded => self.least_loaded(&healthy, all, ticket),
            RoutingStrategy::CacheAware => match route.affinity {
                Some(session) => self.cache_aware(&healthy, all, session),
                None => self.round_robin(&healthy, ticket),
            },
        }
    }

    /// The session's first backend by rendezvous rank, unless its load exceeds the least
    /// loaded one's by more than the margin: then the next in the session's rank.
    fn cache_aware(
        &self,
        pool: &[BackendId],
        all: &[Candidate<'_>],
        session: u64,
    ) -> Option<BackendId> {
        let mut ranked: Vec<(u64, BackendId)> = pool
            .iter()
            .map(|&b| {
                (
                    affinity::score(session, all.get(b.0).map_or(0, |c| c.key)),
                    b,
                )
            })
            .collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.0.cmp(&b.1.0)));
        let load = |b: BackendId| all.get(b.0).and_then(|c| c.state.load());
        let least = pool
            .iter()
            .filter_map(|&b| load(b))
            .fold(f64::INFINITY, f64::min);
        ranked
            .iter()
            .map(|&(_, b)| b)
            .find(|&b| load(b).is_none_or(|l| l <= least + self.margin))
            .or_else(|| ranked.first().map(|&(_, b)| b))
    }

    /// The next backend in turn: by the call's ticket when the host numbers calls, else by
    /// this router's own cursor.
    fn round_robin(&mut self, pool: &[BackendId], ticket: Option<u64>) -> Option<BackendId> {
        if let Some(t) = ticket.filter(|_| !pool.is_empty()) {
            return pool.get((t % pool.len() as u64) as usize).copied();
        }
        let chosen = pool
            .iter()
            .copied()
            .find(|b| b.0 >= self.cursor)
            .or_else(|| pool.first().copied())?;
        self.cursor = chosen.0 + 1;
        Some(chosen)
    }

    fn least_loaded(
        &mut self,
        pool: &[BackendId],
        all: &[Candidate<'_>],
        ticket: Option<u64>,
    ) -> Option<BackendId> {
        let mut scores = Vec::with_capacity(pool.len());
        for &b in pool {
            let c = all.get(b.0)?;
            let Some(load) = c.state.load() else {
                return self.round_robin(pool, ticket);
            };
            scores.push((b, load / f64::from(c.weight.max(1))));
        }
        let best = scores.iter().map(|&(_, s)| s).fold(f64::INFINITY, f64::min);
        let ties: Vec<BackendId> = scores
            .iter()
            .filter(|&&(_, s)| s <= best)
            .map(|&(b, _)| b)
            .collect();
        self.round_robin(&ties, ticket)
    }
}

fn weighted(pool: &[BackendId], all: &[Candidate<'_>], rng: &mut Rng) -> Option<BackendId> {
    let weight = |b: BackendId| u64::from(all.get(b.0).map_or(1, |c| c.weight.max(1)));
    let total: u64 = pool.iter().map(|&b| weight(b)).sum();
    let mut ticket = rng.next_u64() % total.max(1);
    for &b in pool {
        let w = weight(b);
        if ticket < w {
            return Some(b);
        }
        ticket -= w;
    }
    pool.last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CooldownSettings;

    const C: CooldownSettings = CooldownSettings {
        base_ms: 5000,
        max_ms: 60_000,
        probe_health: false,
    };

    /// Backends with these weights and `/metrics` loads (read at time 0).
    struct Fleet {
        weights: Vec<u32>,
        states: Vec<BackendState>,
        /// The session key picks are made for (`cache-aware`).
        session: Option<u64>,
    }

    impl Fleet {
        fn new(weights: &[u32], loads: &[Option<f64>]) -> Fleet {
            let states = loads
                .iter()
                .map(|&load| {
                    let mut s = BackendState::default();
                    s.record_reading(load, 0);
                    s
                })
                .collect();
            Fleet {
                session: None,
                weights: weights.to_vec(),
                states,
            }
        }

        fn ids(&self) -> Vec<BackendId> {
            (0..self.states.len()).map(BackendId).collect()
        }

        /// One pick, counted as the client counts it.
        fn pick(
            &mut self,
            r: &mut Router,
            tried: &[usize],
            now_ms: u64,
            rng: &mut Rng,
            ticket: Option<u64>,
        ) -> Option<usize> {
            let ids = self.ids();
            let tried: Vec<BackendId> = tried.iter().copied().map(BackendId).collect();
            let all: Vec<Candidate<'_>> = self
                .weights
                .iter()
                .zip(&self.states)
                .enumerate()
                .map(|(i, (&weight, state))| Candidate {
                    weight,
                    state,
                    key: affinity::stable_hash(&[format!("b{i}").as_bytes()]),
                })
                .collect();
            let route = Route {
                ticket,
                affinity: self.session,
            };
            let chosen = r.pick(&ids, &tried, now_ms, &all, rng, route)?;
            self.states[chosen.0].picked();
            Some(chosen.0)
        }

        fn counts(&mut self, r: &mut Router, n: usize) -> Vec<usize> {
            let mut rng = Rng::new(42);
            let mut c = vec![0; self.states.len()];
            for _ in 0..n {
                c[self.pick(r, &[], 0, &mut rng, None).unwrap()] += 1;
            }
            c
        }
    }

    #[test]
    fn sequential_alternates_and_skips_tried_and_cooling() {
        let mut f = Fleet::new(&[1, 1, 1], &[None, None, None]);
        let mut r = Router::new(RoutingStrategy::Sequential, 3, 0);
        assert_eq!(f.counts(&mut r, 300), vec![100, 100, 100]);
        let mut rng = Rng::new(1);
        let next = f.pick(&mut r, &[], 0, &mut rng, None).unwrap();
        assert_ne!(f.pick(&mut r, &[next], 0, &mut rng, None), Some(next));
        f.states[1].failed(0, &C, None);
        for _ in 0..10 {
            assert_ne!(f.pick(&mut r, &[], 100, &mut rng, None), Some(1));
        }
        // After the cooldown it is back.
        assert!((0..3).any(|_| f.pick(&mut r, &[], 5000, &mut rng, None) == Some(1)));
    }

    #[test]
    fn all_cooling_tries_the_soonest_back() {
        let mut f = Fleet::new(&[1, 1], &[None, None]);
        let mut r = Router::new(RoutingStrategy::Sequential, 2, 0);
        f.states[0].failed(0, &C, None);
        f.states[0].failed(0, &C, None);
        f.states[1].failed(0, &C, None);
        assert_eq!(f.pick(&mut r, &[], 1, &mut Rng::new(1), None), Some(1));
    }

    #[test]
    fn priority_fails_over_in_order() {
        let mut f = Fleet::new(&[1, 1, 1], &[None, None, None]);
        let mut r = Router::new(RoutingStrategy::Priority, 3, 2);
        assert_eq!(f.counts(&mut r, 10), vec![10, 0, 0]);
        f.states[0].failed(0, &C, None);
        assert_eq!(f.pick(&mut r, &[], 1, &mut Rng::new(1), None), Some(1));
    }

    #[test]
    fn weighted_follows_weights() {
        let mut f = Fleet::new(&[1, 3], &[None, None]);
        let mut r = Router::new(RoutingStrategy::Weighted, 2, 0);
        let c = f.counts(&mut r, 4000);
        assert!((900..1100).contains(&c[0]), "{c:?}");
    }

    #[test]
    fn least_loaded_follows_server_load_and_spreads_within_a_reading() {
        let mut f = Fleet::new(&[1, 1], &[Some(10.0), Some(0.0)]);
        let mut r = Router::new(RoutingStrategy::LeastLoaded, 2, 0);
        // Backend 1 takes picks until its pending count reaches backend 0's load, then they share.
        assert_eq!(f.counts(&mut r, 30), vec![10, 20]);
        let mut f = Fleet::new(&[1, 4], &[Some(4.0), Some(4.0)]);
        let c = f.counts(&mut r, 10);
        assert!(c[1] > c[0], "{c:?}");
        // Unknown load: round-robin.
        let mut f = Fleet::new(&[1, 1], &[Some(0.0), None]);
        let mut r = Router::new(RoutingStrategy::LeastLoaded, 2, 0);
        assert_eq!(f.counts(&mut r, 10), vec![5, 5]);
    }

    #[test]
    fn a_ticket_decides_the_turn_whatever_the_cursor() {
        let mut f = Fleet::new(&[1, 1, 1], &[None, None, None]);
        let mut r = Router::new(RoutingStrategy::Sequential, 3, 2);
        let mut rng = Rng::new(1);
        let turns: Vec<usize> = (0..6)
            .map(|t| f.pick(&mut r, &[], 0, &mut rng, Some(t)).unwrap())
            .collect();
        assert_eq!(turns, [0, 1, 2, 0, 1, 2]);
        f.states[1].failed(0, &C, None);
        let turns: Vec<usize> = (0..4)
            .map(|t| f.pick(&mut r, &[], 0, &mut rng, Some(t)).unwrap())
            .collect();
        assert_eq!(turns, [0, 2, 0, 2], "cooling backends are skipped");
    }

    #[test]
    fn cache_aware_keeps_sessions_put_spreads_them_and_moves_only_a_dead_backends() {
        let n = 8;
        let mut fleet = Fleet::new(&vec![1; n], &vec![None; n]);
        let mut r = Router::new(RoutingStrategy::CacheAware, n, 0);
        let mut rng = Rng::new(1);
        let sessions: Vec<u64> = (0..2000u64)
            .map(|s| affinity::stable_hash(&[b"agent", &s.to_le_bytes()]))
            .collect();
        let mut home = Vec::new();
        for &s in &sessions {
            fleet.session = Some(s);
            let first = fleet.pick(&mut r, &[], 0, &mut rng, None).unwrap();
            // Stable: asked again (or by another instance's router), the same backend.
            let mut other = Router::new(RoutingStrategy::CacheAware, n, 5);
            assert_eq!(fleet.pick(&mut other, &[], 0, &mut rng, None), Some(first));
            home.push(first);
        }
        let mut per = vec![0usize; n];
        home.iter().for_each(|&b| per[b] += 1);
        let mean = sessions.len() as f64 / n as f64;
        let max = *per.iter().max().unwrap() as f64;
        assert!(max / mean < 1.3, "balanced: {per:?}");

        // Backend 3 dies (cooling): only its sessions move.
        let cooldown = C;
        fleet.states[3].failed(0, &cooldown, None);
        let mut moved = 0;
        for (i, &s) in sessions.iter().enumerate() {
            fleet.session = Some(s);
            let now = fleet.pick(&mut r, &[], 1, &mut rng, None).unwrap();
            if now != home[i] {
                assert_eq!(home[i], 3, "a session of a live backend moved");
                moved += 1;
            }
        }
        assert_eq!(moved, per[3]);
    }

    #[test]
    fn cache_aware_leaves_an_overloaded_backend_for_the_sessions_next_choice() {
        let mut fleet = Fleet::new(&[1, 1, 1], &[Some(0.0), Some(0.0), Some(0.0)]);
        let r = &mut Router::new(RoutingStrategy::CacheAware, 3, 0).with_margin(2);
        let mut rng = Rng::new(1);
        fleet.session = Some(affinity::stable_hash(&[b"one session"]));
        let home = fleet.pick(r, &[], 0, &mut rng, None).unwrap();
        // Within the margin it stays (each pick adds one to the load until the next reading).
        assert_eq!(fleet.pick(r, &[], 0, &mut rng, None), Some(home));
        assert_eq!(fleet.pick(r, &[], 0, &mut rng, None), Some(home));
        // Three above the others: the session's next backend.
        let next = fleet.pick(r, &[], 0, &mut rng, None).unwrap();
        assert_ne!(next, home);
    }
}
