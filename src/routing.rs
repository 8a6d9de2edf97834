//! Choosing a backend for one attempt, and remembering which backends are failing.
//!
//! Strategies: `sequential` (round-robin), `priority` (first healthy in order), `weighted`
//! (random by weight), `least-loaded` (fewest running + waiting requests per the servers' own
//! `/metrics`, per unit of weight; round-robin when a candidate's load is unknown).
//! A backend that failed is cooling down: skipped while another candidate is not; when all
//! are, the one whose cooldown ends first is tried rather than failing without trying.

use crate::config::CooldownSettings;
use crate::types::RoutingStrategy;

/// Small, fast PRNG (xorshift64*) for jitter and weighted picks; seeded from wasi:random.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// Consecutive failures.
    pub failures: u32,
    /// Monotonic ms until which the backend is skipped.
    pub until_ms: u64,
}

/// Per-backend facts a pick needs.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    pub weight: u32,
    /// Running + waiting requests from `/metrics`, when known.
    pub load: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct Router {
    strategy: RoutingStrategy,
    cursor: usize,
    health: Vec<Health>,
    /// Picks since the last `/metrics` reading, added to that reading's load so that calls
    /// within one reading's lifetime spread instead of piling onto one backend.
    picks_since_reading: Vec<u32>,
}

impl Router {
    pub fn new(strategy: RoutingStrategy, backends: usize, start: usize) -> Router {
        Router {
            strategy,
            // A random start keeps many client instances from marching in lock-step.
            cursor: start % backends.max(1),
            health: vec![Health::default(); backends],
            picks_since_reading: vec![0; backends],
        }
    }

    pub fn strategy(&self) -> RoutingStrategy {
        self.strategy
    }

    /// Remaining cooldown of a backend, if it is cooling down.
    pub fn cooling(&self, b: usize, now_ms: u64) -> Option<u64> {
        let until = self.health.get(b)?.until_ms;
        (until > now_ms).then(|| until - now_ms)
    }

    /// True when the backend failed before and its cooldown is over (a recovery candidate).
    pub fn recovering(&self, b: usize, now_ms: u64) -> bool {
        self.health
            .get(b)
            .is_some_and(|h| h.failures > 0 && h.until_ms <= now_ms)
    }

    pub fn succeeded(&mut self, b: usize) {
        if let Some(h) = self.health.get_mut(b) {
            *h = Health::default();
        }
    }

    /// Starts (or extends) a cooldown: base doubling per consecutive failure, at most max;
    /// at least the server's `retry-after` (capped at max) when it sent one.
    pub fn failed(
        &mut self,
        b: usize,
        now_ms: u64,
        c: &CooldownSettings,
        retry_after_ms: Option<u64>,
    ) {
        let Some(h) = self.health.get_mut(b) else {
            return;
        };
        h.failures = h.failures.saturating_add(1);
        let doubled = c.base_ms.saturating_mul(1u64 << (h.failures - 1).min(32));
        let wait = doubled.max(retry_after_ms.unwrap_or(0)).min(c.max_ms);
        h.until_ms = now_ms.saturating_add(wait);
    }

    /// A fresh `/metrics` reading arrived for `b`.
    pub fn reading_refreshed(&mut self, b: usize) {
        if let Some(p) = self.picks_since_reading.get_mut(b) {
            *p = 0;
        }
    }

    /// Picks among `eligible` (backend indices in configuration order, non-empty), avoiding
    /// `tried` backends when others remain. `facts` is indexed by backend.
    pub fn pick(
        &mut self,
        eligible: &[usize],
        tried: &[usize],
        now_ms: u64,
        facts: &[Facts],
        rng: &mut Rng,
        ticket: Option<u64>,
    ) -> Option<usize> {
        let fresh: Vec<usize> = eligible
            .iter()
            .copied()
            .filter(|b| !tried.contains(b))
            .collect();
        let pool = if fresh.is_empty() {
            eligible.to_vec()
        } else {
            fresh
        };
        let healthy: Vec<usize> = pool
            .iter()
            .copied()
            .filter(|&b| self.cooling(b, now_ms).is_none())
            .collect();
        let chosen = if healthy.is_empty() {
            pool.iter()
                .copied()
                .min_by_key(|&b| self.health[b].until_ms)
        } else {
            match self.strategy {
                RoutingStrategy::Priority => healthy.first().copied(),
                RoutingStrategy::Sequential => self.round_robin(&healthy, ticket),
                RoutingStrategy::Weighted => weighted(&healthy, facts, rng),
                RoutingStrategy::LeastLoaded => self.least_loaded(&healthy, facts, ticket),
            }
        }?;
        if let Some(p) = self.picks_since_reading.get_mut(chosen) {
            *p = p.saturating_add(1);
        }
        Some(chosen)
    }

    /// The next backend in turn: by the call's ticket when the host numbers calls, else by
    /// this router's own cursor.
    fn round_robin(&mut self, pool: &[usize], ticket: Option<u64>) -> Option<usize> {
        if let Some(t) = ticket.filter(|_| !pool.is_empty()) {
            return pool.get((t % pool.len() as u64) as usize).copied();
        }
        let chosen = pool
            .iter()
            .copied()
            .find(|&b| b >= self.cursor)
            .or_else(|| pool.first().copied())?;
        self.cursor = chosen + 1;
        Some(chosen)
    }

    fn least_loaded(
        &mut self,
        pool: &[usize],
        facts: &[Facts],
        ticket: Option<u64>,
    ) -> Option<usize> {
        let mut scores = Vec::with_capacity(pool.len());
        for &b in pool {
            let f = facts.get(b)?;
            let Some(load) = f.load else {
                return self.round_robin(pool, ticket);
            };
            let pending = f64::from(self.picks_since_reading.get(b).copied().unwrap_or(0));
            scores.push((b, (load + pending) / f64::from(f.weight.max(1))));
        }
        let best = scores.iter().map(|&(_, s)| s).fold(f64::INFINITY, f64::min);
        let ties: Vec<usize> = scores
            .iter()
            .filter(|&&(_, s)| s <= best)
            .map(|&(b, _)| b)
            .collect();
        self.round_robin(&ties, ticket)
    }
}

fn weighted(pool: &[usize], facts: &[Facts], rng: &mut Rng) -> Option<usize> {
    let weight = |b: usize| u64::from(facts.get(b).map_or(1, |f| f.weight.max(1)));
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

    const C: CooldownSettings = CooldownSettings {
        base_ms: 5000,
        max_ms: 60_000,
        probe_health: false,
    };

    fn facts(weights: &[u32], loads: &[Option<f64>]) -> Vec<Facts> {
        weights
            .iter()
            .zip(loads)
            .map(|(&weight, &load)| Facts { weight, load })
            .collect()
    }

    fn counts(r: &mut Router, n: usize, f: &[Facts]) -> Vec<usize> {
        let mut rng = Rng::new(42);
        let mut c = vec![0; f.len()];
        let all: Vec<usize> = (0..f.len()).collect();
        for _ in 0..n {
            c[r.pick(&all, &[], 0, f, &mut rng, None).unwrap()] += 1;
        }
        c
    }

    #[test]
    fn sequential_alternates_and_skips_tried_and_cooling() {
        let f = facts(&[1, 1, 1], &[None, None, None]);
        let mut r = Router::new(RoutingStrategy::Sequential, 3, 0);
        assert_eq!(counts(&mut r, 300, &f), vec![100, 100, 100]);
        let mut rng = Rng::new(1);
        let next = r.pick(&[0, 1, 2], &[], 0, &f, &mut rng, None).unwrap();
        assert_ne!(
            r.pick(&[0, 1, 2], &[next], 0, &f, &mut rng, None),
            Some(next)
        );
        r.failed(1, 0, &C, None);
        for _ in 0..10 {
            assert_ne!(r.pick(&[0, 1, 2], &[], 100, &f, &mut rng, None), Some(1));
        }
        assert_eq!(r.cooling(1, 1000), Some(4000));
        // After the cooldown it is back.
        assert!((0..3).any(|_| r.pick(&[0, 1, 2], &[], 5000, &f, &mut rng, None) == Some(1)));
        assert!(r.recovering(1, 5000));
        r.succeeded(1);
        assert!(!r.recovering(1, 5000));
    }

    #[test]
    fn cooldowns_double_cap_and_honour_retry_after() {
        let mut r = Router::new(RoutingStrategy::Sequential, 1, 0);
        r.failed(0, 0, &C, None);
        assert_eq!(r.cooling(0, 0), Some(5000));
        r.failed(0, 0, &C, None);
        assert_eq!(r.cooling(0, 0), Some(10_000));
        for _ in 0..10 {
            r.failed(0, 0, &C, None);
        }
        assert_eq!(r.cooling(0, 0), Some(60_000));
        r.succeeded(0);
        r.failed(0, 0, &C, Some(20_000));
        assert_eq!(r.cooling(0, 0), Some(20_000));
    }

    #[test]
    fn all_cooling_tries_the_soonest_back() {
        let f = facts(&[1, 1], &[None, None]);
        let mut r = Router::new(RoutingStrategy::Sequential, 2, 0);
        r.failed(0, 0, &C, None);
        r.failed(0, 0, &C, None);
        r.failed(1, 0, &C, None);
        assert_eq!(r.pick(&[0, 1], &[], 1, &f, &mut Rng::new(1), None), Some(1));
    }

    #[test]
    fn priority_fails_over_in_order() {
        let f = facts(&[1, 1, 1], &[None, None, None]);
        let mut r = Router::new(RoutingStrategy::Priority, 3, 2);
        assert_eq!(counts(&mut r, 10, &f), vec![10, 0, 0]);
        r.failed(0, 0, &C, None);
        assert_eq!(
            r.pick(&[0, 1, 2], &[], 1, &f, &mut Rng::new(1), None),
            Some(1)
        );
    }

    #[test]
    fn weighted_follows_weights() {
        let f = facts(&[1, 3], &[None, None]);
        let mut r = Router::new(RoutingStrategy::Weighted, 2, 0);
        let c = counts(&mut r, 4000, &f);
        assert!((900..1100).contains(&c[0]), "{c:?}");
    }

    #[test]
    fn least_loaded_follows_server_load_and_spreads_within_a_reading() {
        let f = facts(&[1, 1], &[Some(10.0), Some(0.0)]);
        let mut r = Router::new(RoutingStrategy::LeastLoaded, 2, 0);
        // Backend 1 takes picks until its pending count reaches backend 0's load, then they share.
        let c = counts(&mut r, 30, &f);
        assert_eq!(c, vec![10, 20]);
        r.reading_refreshed(0);
        r.reading_refreshed(1);
        let weighted = facts(&[1, 4], &[Some(4.0), Some(4.0)]);
        let c = counts(&mut r, 10, &weighted);
        assert!(c[1] > c[0], "{c:?}");
        // A host-given ticket decides the turn, whatever the router's own cursor says.
        let mut r = Router::new(RoutingStrategy::Sequential, 3, 2);
        let f3 = facts(&[1, 1, 1], &[None, None, None]);
        let turns: Vec<usize> = (0..6)
            .map(|t| {
                r.pick(&[0, 1, 2], &[], 0, &f3, &mut Rng::new(1), Some(t))
                    .unwrap()
            })
            .collect();
        assert_eq!(turns, [0, 1, 2, 0, 1, 2]);
        r.failed(1, 0, &C, None);
        let turns: Vec<usize> = (0..4)
            .map(|t| {
                r.pick(&[0, 1, 2], &[], 0, &f3, &mut Rng::new(1), Some(t))
                    .unwrap()
            })
            .collect();
        assert_eq!(turns, [0, 2, 0, 2], "cooling backends are skipped");
        // Unknown load: round-robin.
        let mut r = Router::new(RoutingStrategy::LeastLoaded, 2, 0);
        assert_eq!(
            counts(&mut r, 10, &facts(&[1, 1], &[Some(0.0), None])),
            vec![5, 5]
        );
    }
}
