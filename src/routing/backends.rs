//! What a client remembers about each backend between calls, in one record per backend:
//! its failure cooldown, its last `/metrics` load reading (and our attempts it cannot
//! include), and the models it reported. Configuration (URL, key, weight) lives in
//! `config::Backend`; this is the mutable half, indexed by the same [`BackendId`].

use crate::config::CooldownSettings;
use crate::types::{BackendKind, ModelInfo};

/// A backend's position in the client's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackendId(pub usize);

/// The mutable state of one backend.
#[derive(Clone, Debug, Default)]
pub struct BackendState {
    /// Consecutive failures (0 = healthy).
    failures: u32,
    /// Monotonic ms until which the backend is skipped.
    cooling_until_ms: u64,
    /// The last `/metrics` reading.
    reading: Option<LoadReading>,
    /// Our attempts sent here since that reading and still running: the reading cannot
    /// include them, so they are added to its load. An attempt that ended is no load (it
    /// used to count until the next reading, which made an idle server look busy to quick
    /// back-to-back calls).
    running_since_reading: u32,
    /// Models from `GET /models`.
    discovered: Option<Discovered>,
    /// The server family of an `auto` backend, once its model list told it.
    pub detected: Option<BackendKind>,
    /// The server refused a request's `priority` (not started for priority scheduling).
    pub refuses_priority: bool,
}

/// One `/metrics` reading.
#[derive(Clone, Copy, Debug, PartialEq)]
struct LoadReading {
    /// Running + waiting requests; `None` when the server exposes no known metrics.
    load: Option<f64>,
    at_ms: u64,
}

/// One model listing.
#[derive(Clone, Debug, PartialEq)]
struct Discovered {
    models: Vec<ModelInfo>,
    at_ms: u64,
}

impl BackendState {
    /// Remaining cooldown, if the backend is cooling down.
    pub fn cooling(&self, now_ms: u64) -> Option<u64> {
        (self.cooling_until_ms > now_ms).then(|| self.cooling_until_ms - now_ms)
    }

    /// Monotonic ms at which the cooldown ends (0 when never failed).
    pub fn cooling_until_ms(&self) -> u64 {
        self.cooling_until_ms
    }

    /// True when it failed before and its cooldown is over: a recovery candidate.
    pub fn recovering(&self, now_ms: u64) -> bool {
        self.failures > 0 && self.cooling_until_ms <= now_ms
    }

    /// An attempt succeeded: healthy again.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.cooling_until_ms = 0;
    }

    /// Starts (or extends) a cooldown: base doubling per consecutive failure, at most max;
    /// at least the server's `retry-after` (capped at max) when it sent one.
    pub fn failed(&mut self, now_ms: u64, c: &CooldownSettings, retry_after_ms: Option<u64>) {
        self.failures = self.failures.saturating_add(1);
        let doubled = c
            .base_ms
            .saturating_mul(1u64 << (self.failures - 1).min(32));
        let wait = doubled.max(retry_after_ms.unwrap_or(0)).min(c.max_ms);
        self.cooling_until_ms = now_ms.saturating_add(wait);
    }

    /// The load of the last reading plus our attempts still running that it cannot include,
    /// when the server reports load.
    pub fn load(&self) -> Option<f64> {
        let load = self.reading?.load?;
        Some(load + f64::from(self.running_since_reading))
    }

    /// The last reading's load when it is younger than `ttl_ms` (a server without metrics
    /// is trusted `miss_ttls` times longer, so it is not asked on every call). `None`: read
    /// again. `Some(None)`: the server has no load metrics.
    pub fn reading(&self, now_ms: u64, ttl_ms: u64, miss_ttls: u64) -> Option<Option<f64>> {
        let r = self.reading?;
        let ttl = match r.load {
            Some(_) => ttl_ms,
            None => ttl_ms.saturating_mul(miss_ttls),
        };
        (now_ms.saturating_sub(r.at_ms) < ttl).then_some(r.load)
    }

    /// A fresh `/metrics` reading.
    pub fn record_reading(&mut self, load: Option<f64>, now_ms: u64) {
        self.reading = Some(LoadReading {
            load,
            at_ms: now_ms,
        });
        self.running_since_reading = 0;
    }

    /// The router sent an attempt here.
    pub fn picked(&mut self) {
        self.running_since_reading = self.running_since_reading.saturating_add(1);
    }

    /// An attempt sent here has its answer (or failed). One sent before the last reading
    /// was counted by the server, not here: the count never goes below zero.
    pub fn attempt_ended(&mut self) {
        self.running_since_reading = self.running_since_reading.saturating_sub(1);
    }

    /// Models from the last listing, when younger than `ttl_ms`.
    pub fn discovered(&self, now_ms: u64, ttl_ms: u64) -> Option<&[ModelInfo]> {
        self.discovered
            .as_ref()
            .filter(|d| now_ms.saturating_sub(d.at_ms) < ttl_ms)
            .map(|d| d.models.as_slice())
    }

    /// A fresh model listing.
    pub fn record_models(&mut self, models: Vec<ModelInfo>, now_ms: u64) {
        self.discovered = Some(Discovered {
            models,
            at_ms: now_ms,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: CooldownSettings = CooldownSettings {
        base_ms: 5000,
        max_ms: 60_000,
        probe_health: false,
    };

    #[test]
    fn cooldowns_double_cap_and_honour_retry_after() {
        let mut b = BackendState::default();
        b.failed(0, &C, None);
        assert_eq!(b.cooling(0), Some(5000));
        assert_eq!(b.cooling(1000), Some(4000));
        b.failed(0, &C, None);
        assert_eq!(b.cooling(0), Some(10_000));
        for _ in 0..10 {
            b.failed(0, &C, None);
        }
        assert_eq!(b.cooling(0), Some(60_000));
        assert!(!b.recovering(59_999));
        assert!(b.recovering(60_000));
        b.succeeded();
        assert!(!b.recovering(60_000));
        b.failed(0, &C, Some(20_000));
        assert_eq!(b.cooling(0), Some(20_000));
    }

    #[test]
    fn readings_expire_and_count_running_attempts_since() {
        let mut b = BackendState::default();
        assert_eq!(b.reading(0, 1000, 30), None);
        b.record_reading(Some(3.0), 0);
        b.picked();
        b.picked();
        assert_eq!(b.load(), Some(5.0));
        b.attempt_ended();
        assert_eq!(b.load(), Some(4.0), "an ended attempt is no load");
        b.attempt_ended();
        b.attempt_ended();
        assert_eq!(b.load(), Some(3.0), "never below the reading");
        assert_eq!(b.reading(999, 1000, 30), Some(Some(3.0)));
        assert_eq!(b.reading(1000, 1000, 30), None);
        b.record_reading(None, 0);
        assert_eq!(b.load(), None);
        assert_eq!(
            b.reading(29_999, 1000, 30),
            Some(None),
            "no metrics: asked rarely"
        );
        assert_eq!(b.reading(30_000, 1000, 30), None);
    }
}
