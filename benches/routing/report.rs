//! Figures of one strategy's run, computed from its calls, and the Markdown tables both
//! benchmarks print (pasted into BENCHMARKS.md as they come).

use crate::agents::Call;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// One strategy's figures.
pub struct Summary {
    pub strategy: String,
    pub wall: Duration,
    pub calls: usize,
    pub failed: usize,
    pub latency: (Duration, Duration),
    pub ttft: Option<(Duration, Duration)>,
    pub prompt_tokens: u64,
    pub cached_tokens: u64,
    /// Prompt and cached tokens of every turn after each agent's first.
    pub later: (u64, u64),
    /// Calls per configured backend (zeros included), by name.
    pub per_backend: BTreeMap<String, usize>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn p50_p95(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (percentile(&v, 0.50), percentile(&v, 0.95))
}

impl Summary {
    pub fn new(strategy: &str, wall: Duration, calls: &[Call], backends: &[String]) -> Summary {
        let ok: Vec<&Call> = calls.iter().filter(|c| c.error.is_none()).collect();
        let mut per_backend: BTreeMap<String, usize> =
            backends.iter().map(|b| (b.clone(), 0)).collect();
        for c in &ok {
            *per_backend.entry(c.backend.clone()).or_default() += 1;
        }
        let ttfts: Vec<Duration> = ok.iter().filter_map(|c| c.ttft).collect();
        let sum = |f: &dyn Fn(&Call) -> bool, g: &dyn Fn(&Call) -> u32| -> u64 {
            ok.iter().filter(|c| f(c)).map(|c| u64::from(g(c))).sum()
        };
        Summary {
            strategy: strategy.to_string(),
            wall,
            calls: calls.len(),
            failed: calls.len() - ok.len(),
            latency: p50_p95(ok.iter().map(|c| c.latency).collect()),
            ttft: (!ttfts.is_empty()).then(|| p50_p95(ttfts)),
            prompt_tokens: sum(&|_| true, &|c| c.prompt_tokens),
            cached_tokens: sum(&|_| true, &|c| c.cached_tokens),
            later: (
                sum(&|c| c.turn > 0, &|c| c.prompt_tokens),
                sum(&|c| c.turn > 0, &|c| c.cached_tokens),
            ),
            per_backend,
        }
    }

    pub fn throughput(&self) -> f64 {
        (self.calls - self.failed) as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    pub fn hit_ratio(&self) -> f64 {
        ratio(self.cached_tokens, self.prompt_tokens)
    }

    pub fn later_hit_ratio(&self) -> f64 {
        ratio(self.later.1, self.later.0)
    }

    /// Busiest backend's calls over the mean per backend.
    pub fn imbalance(&self) -> f64 {
        let n = self.per_backend.len().max(1) as f64;
        let total: usize = self.per_backend.values().sum();
        let max = self.per_backend.values().copied().max().unwrap_or(0);
        if total == 0 {
            return 0.0;
        }
        max as f64 / (total as f64 / n)
    }

    pub fn json(&self) -> Value {
        json!({
            "strategy": self.strategy, "wall_s": self.wall.as_secs_f64(), "calls": self.calls,
            "failed": self.failed, "calls_per_s": self.throughput(),
            "latency_p50_ms": ms(self.latency.0), "latency_p95_ms": ms(self.latency.1),
            "ttft_p50_ms": self.ttft.map(|t| ms(t.0)), "ttft_p95_ms": self.ttft.map(|t| ms(t.1)),
            "prompt_tokens": self.prompt_tokens, "cached_tokens": self.cached_tokens,
            "hit_ratio": self.hit_ratio(), "hit_ratio_after_first_turn": self.later_hit_ratio(),
            "calls_per_backend": self.per_backend, "max_over_mean": self.imbalance(),
        })
    }
}

pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The live benchmark's table.
pub fn live_table(rows: &[Summary]) -> String {
    let base = rows
        .iter()
        .find(|r| r.strategy == "sequential")
        .map(Summary::throughput);
    let mut out = String::from(
        "| strategy | wall s | calls/s | × sequential | TTFT p50 ms | TTFT p95 ms | call p50 ms | call p95 ms | prompt tokens | processed | cached | cached after turn 1 | calls per backend | max ÷ mean | failed |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|\n",
    );
    for r in rows {
        let (t50, t95) = r.ttft.map_or((f64::NAN, f64::NAN), |t| (ms(t.0), ms(t.1)));
        out += &format!(
            "| {} | {:.1} | {:.3} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {:.1}% | {:.1}% | {} | {:.2} | {} |\n",
            r.strategy,
            r.wall.as_secs_f64(),
            r.throughput(),
            base.map_or("–".into(), |b| format!("{:.2}×", r.throughput() / b)),
            t50,
            t95,
            ms(r.latency.0),
            ms(r.latency.1),
            r.prompt_tokens,
            r.prompt_tokens - r.cached_tokens,
            100.0 * r.hit_ratio(),
            100.0 * r.later_hit_ratio(),
            r.per_backend
                .iter()
                .map(|(b, n)| format!("{b} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            r.imbalance(),
            r.failed,
        );
    }
    out
}
