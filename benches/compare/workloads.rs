//! The workloads, generic over "one call" and "one stream" so every client runs the same
//! ones, and the figures of a round.

use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Default)]
pub struct Figures {
    pub p50: f64,
    pub p99: f64,
    pub t16: f64,
    pub t64: f64,
    pub s1: f64,
    pub sn: f64,
    /// Embeddings calls per second, 16 in flight.
    pub emb: f64,
    /// CPU µs per call (whole process), 16 in flight.
    pub cpu16: f64,
}

impl Figures {
    /// Median of each figure over rounds.
    pub fn median(rounds: &[Figures]) -> Figures {
        let m = |f: fn(&Figures) -> f64| median(rounds.iter().map(f).collect());
        Figures {
            p50: m(|f| f.p50),
            p99: m(|f| f.p99),
            t16: m(|f| f.t16),
            t64: m(|f| f.t64),
            s1: m(|f| f.s1),
            sn: m(|f| f.sn),
            emb: m(|f| f.emb),
            cpu16: m(|f| f.cpu16),
        }
    }
}

/// Per-call latency: p50 and p99 (µs) over `n` sequential calls.
pub async fn latency<F, Fut>(n: usize, call: F) -> (f64, f64)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    call().await;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        call().await;
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    (times[n / 2], times[n * 99 / 100])
}

/// Calls per second with `concurrency` calls in flight, over `seconds`, and the process's CPU
/// time per call (µs: client and loopback server together, all threads) — steadier than the
/// rate on a shared machine, where other work takes turns on the cores.
pub async fn throughput<F, Fut>(seconds: f64, concurrency: usize, call: F) -> (f64, f64)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let warm: Vec<_> = (0..concurrency)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move { call().await })
        })
        .collect();
    futures::future::join_all(warm).await;
    let done = Arc::new(AtomicUsize::new(0));
    let cpu = cpu_seconds();
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (call, done) = (call.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    call().await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    futures::future::join_all(workers).await;
    let (calls, wall) = (done.load(Ordering::Relaxed) as f64, started.elapsed());
    (
        calls / wall.as_secs_f64(),
        (cpu_seconds() - cpu) * 1e6 / calls,
    )
}

/// CPU time this process has used (user + system, all threads), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: f64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse::<f64>().ok())
        .sum();
    ticks / CLOCK_TICKS_PER_SECOND
}

/// `sysconf(_SC_CLK_TCK)`, the unit of those fields: 100 on Linux for every architecture in use.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// Content events per second over `count` concurrent streams.
pub async fn streams<F, Fut>(count: usize, stream: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = usize> + Send,
{
    let stream = Arc::new(stream);
    let started = Instant::now();
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let stream = stream.clone();
            tokio::spawn(async move { stream().await })
        })
        .collect();
    let events: usize = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("stream task"))
        .sum();
    events as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn rss_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// RSS added per call while `concurrency` calls are in flight (the server holds answers).
pub async fn rss_per_call<F, Fut>(concurrency: usize, call: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let before = rss_kib();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            tokio::spawn({
                let call = call.clone();
                async move { call().await }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = rss_kib();
    futures::future::join_all(tasks).await;
    (during - before) / concurrency as f64
}

pub fn python(
    python: &str,
    base_url: &str,
    mode: &str,
    n: usize,
    concurrency: usize,
) -> Option<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../benches/openai_bench.py");
    let out = std::process::Command::new(python)
        .args([
            script,
            "--base-url",
            base_url,
            "--mode",
            mode,
            "--n",
            &n.to_string(),
            "--concurrency",
            &concurrency.to_string(),
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "openai-python {mode} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}
