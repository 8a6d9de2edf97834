//! What the chaos run measured, per phase: calls, successes, typed errors by code, latency,
//! the backends that served, how long each fault took to route around and how long a
//! recovered server took to be used again. Printed as a table and written as JSON.

use llm_core_host::types::{ChatResponse, Error};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One call of the steady traffic.
#[derive(Clone)]
pub struct Record {
    /// Seconds since the run started, when the call was made and when it returned.
    pub start: f64,
    pub end: f64,
    /// The backend that answered, or the error's code.
    pub outcome: Result<String, String>,
    /// HTTP attempts the call took.
    pub attempts: u32,
}

impl Record {
    pub fn of(start: f64, t0: Instant, result: Result<ChatResponse, Error>) -> Record {
        let end = t0.elapsed().as_secs_f64();
        match result {
            Ok(r) => Record {
                start,
                end,
                outcome: Ok(r.backend),
                attempts: r.attempts,
            },
            Err(e) => Record {
                start,
                end,
                outcome: Err(format!("{:?}", e.code)),
                attempts: e.attempts,
            },
        }
    }
}

/// A fault (or recovery) injected at `at` seconds into the run.
pub struct Fault {
    pub name: String,
    pub server: String,
    pub at: f64,
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Seconds from `at` until the first call made after it that `pick` accepts has returned.
fn first_after(records: &[Record], at: f64, pick: impl Fn(&Record) -> bool) -> Option<f64> {
    records
        .iter()
        .filter(|r| r.start >= at && pick(r))
        .map(|r| r.end - at)
        .min_by(f64::total_cmp)
}

pub fn print(records: &[Record], faults: &[Fault], routing: &str, phase: Duration) {
    let mut bounds: Vec<(String, f64)> = vec![("steady".into(), 0.0)];
    bounds.extend(
        faults
            .iter()
            .map(|f| (format!("{} {}", f.name, f.server), f.at)),
    );
    let end = records.iter().map(|r| r.end).fold(0.0, f64::max);
    println!(
        "\nchaos — {routing} routing, {phase:?} phases, {} calls\n",
        records.len()
    );
    println!(
        "{:<22} {:>6} {:>6} {:>8} {:>9} {:>9} {:>9}  errors / served by",
        "phase (from)", "calls", "ok", "retried", "p50 ms", "p99 ms", "max ms"
    );
    let mut phases = Vec::new();
    for (i, (label, from)) in bounds.iter().enumerate() {
        let to = bounds.get(i + 1).map_or(end + 1.0, |b| b.1);
        let here: Vec<&Record> = records
            .iter()
            .filter(|r| r.start >= *from && r.start < to)
            .collect();
        let latency: Vec<f64> = here.iter().map(|r| (r.end - r.start) * 1e3).collect();
        let ok = here.iter().filter(|r| r.outcome.is_ok()).count();
        let retried = here.iter().filter(|r| r.attempts > 1).count();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for r in &here {
            let key = match &r.outcome {
                Ok(backend) => format!("served by {backend}"),
                Err(code) => format!("error {code}"),
            };
            *counts.entry(key).or_default() += 1;
        }
        let (p50, p99, max) = (
            percentile(latency.clone(), 0.5),
            percentile(latency.clone(), 0.99),
            percentile(latency, 1.0),
        );
        println!(
            "{label:<22} {:>6} {ok:>6} {retried:>8} {p50:>9.0} {p99:>9.0} {max:>9.0}  {counts:?}",
            here.len()
        );
        phases.push(
            json!({"phase": label, "from_s": from, "calls": here.len(), "ok": ok,
            "retried": retried, "p50_ms": p50, "p99_ms": p99, "max_ms": max, "outcomes": counts}),
        );
    }

    // Route around: the first success of a call made after the fault (on any server), and
    // how long calls went on needing retries (the last retried or failed call made in the
    // phase returned). Back in use: the first success served by the recovered server.
    println!();
    let mut timings = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        let next = faults.get(i + 1).map_or(f64::INFINITY, |n| n.at);
        let around = first_after(records, f.at, |r| r.outcome.is_ok());
        let again = first_after(records, f.at, |r| r.outcome.as_ref() == Ok(&f.server));
        let disturbed = records
            .iter()
            .filter(|r| r.start >= f.at && r.start < next)
            .filter(|r| r.attempts > 1 || r.outcome.is_err())
            .map(|r| r.end - f.at)
            .reduce(f64::max);
        let secs = |s: Option<f64>| s.map_or("never".into(), |s| format!("{s:.2} s"));
        let line = match f.name.as_str() {
            "restarted" | "SIGCONT" => format!("back in use after {}", secs(again)),
            _ => match disturbed {
                Some(d) => format!(
                    "first success after {}, retries until {d:.2} s",
                    secs(around)
                ),
                // (cache-aware routing may not have been using the server at all)
                None => format!("first success after {}, no call retried", secs(around)),
            },
        };
        println!("{} {}: {line}", f.name, f.server);
        timings.push(json!({"fault": f.name, "server": f.server, "at_s": f.at,
            "first_success_s": around, "back_in_use_s": again, "retries_until_s": disturbed}));
    }
    let failed = records.iter().filter(|r| r.outcome.is_err()).count();
    let longest = records.iter().map(|r| r.end - r.start).fold(0.0, f64::max);
    println!(
        "\n{} calls, {failed} typed errors, 0 lost (every call returned; the longest took {longest:.2} s)",
        records.len()
    );
    let calls: Vec<_> = records
        .iter()
        .map(|r| {
            json!({"start_s": r.start, "end_s": r.end, "attempts": r.attempts,
            "backend": r.outcome.as_ref().ok(), "error": r.outcome.as_ref().err()})
        })
        .collect();
    let out = json!({"routing": routing, "phase_s": phase.as_secs_f64(), "calls": records.len(),
        "typed_errors": failed, "longest_call_s": longest, "phases": phases, "timings": timings,
        "each_call": calls});
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench/chaos.json");
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(
        &path,
        serde_json::to_string_pretty(&out).unwrap_or_default(),
    ) {
        Ok(()) => println!("JSON: {}", path.display()),
        Err(e) => eprintln!("cannot write {}: {e}", path.display()),
    }
}
