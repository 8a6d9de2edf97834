//! Chaos against live servers: two llama.cpp instances behind one client carrying steady
//! traffic, while the run kills one with SIGKILL, restarts it on the same port, freezes the
//! other with SIGSTOP (a hang, not a refusal) and thaws it, then fills one's queue with long
//! generations. Every call is logged; the report says, per phase, how many calls succeeded,
//! which typed errors the rest returned (none may be lost or hang past the deadline), how
//! long the client took to route around each fault and to use a server again once it was
//! back.
//!
//! `scripts/chaos [--quick] [--routing STRATEGY]` runs it (`cargo bench -p
//! aios-llm-core-tests --bench chaos`); RELIABILITY.md has the figures.

mod report;
mod servers;

use llm_core_host::types::*;
use llm_core_host::{HostOptions, LlmCore};
use report::{Fault, Record};
use servers::Server;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Concurrent callers of the steady traffic.
const WORKERS: usize = 3;
/// Long generations sent at once to fill one server's queue (it has two slots).
const QUEUE_FILL: usize = 8;

fn steady_request() -> ChatRequest {
    let mut r = ChatRequest::user("Name one colour.");
    r.sampling.max_tokens = Some(4);
    r.sampling.temperature = Some(0.0);
    r
}

fn long_request() -> ChatRequest {
    let mut r = ChatRequest::user("Count from one to two hundred, in words.");
    r.sampling.max_tokens = Some(160);
    r
}

fn config(a: &Server, b: &Server, routing: RoutingStrategy) -> ClientConfig {
    let backend = |s: &Server| {
        let mut c = BackendConfig::new(BackendKind::OpenaiCompatible, s.url.clone());
        c.name = Some(s.name.clone());
        c
    };
    let mut c = ClientConfig::single(BackendKind::OpenaiCompatible, a.url.clone());
    c.backends = vec![backend(a), backend(b)];
    c.routing = Some(routing);
    // A refused connection fails at once; a frozen server is found out by the first-byte
    // timeout; every call has a deadline, so none can hang.
    c.timeouts.connect_ms = Some(1_000);
    c.timeouts.first_byte_ms = Some(3_000);
    c.timeouts.total_ms = Some(20_000);
    c
}

fn routing_arg() -> RoutingStrategy {
    let args: Vec<String> = std::env::args().collect();
    let named = args
        .iter()
        .position(|a| a == "--routing")
        .and_then(|i| args.get(i + 1));
    match named.map(String::as_str) {
        None | Some("sequential") => RoutingStrategy::Sequential,
        Some("least-loaded") => RoutingStrategy::LeastLoaded,
        Some("weighted") => RoutingStrategy::Weighted,
        Some("cache-aware") => RoutingStrategy::CacheAware,
        Some(other) => panic!("unknown --routing {other}"),
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let phase = Duration::from_secs(if quick { 6 } else { 12 });
    let routing = routing_arg();
    let a = Server::start("chaos-a", None);
    let b = Server::start("chaos-b", None);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (records, faults) = rt.block_on(run(&a, &b, phase, routing));
    a.stop();
    b.stop();
    report::print(&records, &faults, &format!("{routing:?}"), phase);
}

async fn run(
    a: &Server,
    b: &Server,
    phase: Duration,
    routing: RoutingStrategy,
) -> (Vec<Record>, Vec<Fault>) {
    let core = LlmCore::new(HostOptions::default()).expect("component loads");
    let client = core
        .client(config(a, b, routing))
        .await
        .expect("client opens");
    let t0 = Instant::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (client, log, stop) = (client.clone(), log.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let start = t0.elapsed().as_secs_f64();
                    let result = client.chat(steady_request()).await;
                    log.lock().unwrap().push(Record::of(start, t0, result));
                }
            })
        })
        .collect();

    let mut faults = Vec::new();
    let mut mark = |fault: &str, server: &str| {
        eprintln!(
            "chaos: {fault} {server} at {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        faults.push(Fault {
            name: fault.into(),
            server: server.into(),
            at: t0.elapsed().as_secs_f64(),
        });
    };
    tokio::time::sleep(phase).await;
    mark("SIGKILL", &a.name);
    a.signal("KILL");
    tokio::time::sleep(phase).await;
    let port = a.port();
    tokio::task::spawn_blocking(move || Server::start("chaos-a", Some(port)))
        .await
        .expect("restart");
    mark("restarted", &a.name);
    tokio::time::sleep(phase).await;
    mark("SIGSTOP", &b.name);
    b.signal("STOP");
    tokio::time::sleep(phase).await;
    b.signal("CONT");
    mark("SIGCONT", &b.name);
    tokio::time::sleep(phase).await;
    // A queue full of long generations on `a`, sent by another program's client.
    let other = core
        .client(ClientConfig::single(
            BackendKind::OpenaiCompatible,
            a.url.clone(),
        ))
        .await
        .expect("second client");
    mark("queue filled", &a.name);
    let burst: Vec<_> = (0..QUEUE_FILL)
        .map(|_| {
            let other = other.clone();
            tokio::spawn(async move { other.chat(long_request()).await.is_ok() })
        })
        .collect();
    tokio::time::sleep(phase).await;
    stop.store(true, Ordering::Relaxed);
    futures::future::join_all(workers).await;
    let filled_ok = futures::future::join_all(burst)
        .await
        .into_iter()
        .filter(|r| matches!(r, Ok(true)))
        .count();
    eprintln!("chaos: {filled_ok} of {QUEUE_FILL} queue-filling generations finished");
    let records = log.lock().unwrap().clone();
    (records, faults)
}
