//! Routing strategies measured on a multi-agent workload through the host library: what
//! keeping each conversation on the server that holds its prefix (`cache-aware`) buys over
//! round-robin (`sequential`, AIOS), random (`weighted`, LiteLLM's shuffle) and
//! `least-loaded`, in one run. Two modes (`scripts/bench-routing`; BENCHMARKS.md has the
//! tables):
//!
//! - `live`: two llama.cpp servers started through scripts/local-server (restarted for
//!   every strategy, so each starts with empty caches), a handful of agents;
//! - `sim`: a fleet of simulated servers with a prefix-cache model
//!   (`replay_server::sim_fleet`), a thousand agents, and one server killed at the end to
//!   see how many sessions move.
//!
//! `cargo bench -p aios-llm-core-tests --bench routing -- live|sim [options]`; `--help`
//! lists the options.
mod agents;
mod live;
mod report;
mod sim;

use std::path::PathBuf;

/// Options of both modes; each mode reads its own.
pub struct Args {
    pub mode: String,
    pub strategies: Vec<String>,
    pub agents: Option<usize>,
    pub turns: Option<usize>,
    pub system_words: Option<usize>,
    pub user_words: usize,
    pub max_tokens: u32,
    pub json: Option<PathBuf>,
    pub metrics_ttl_ms: Option<u32>,
    // live
    pub model: String,
    pub parallel: u32,
    pub ctx: u32,
    pub threads: u32,
    pub server_args: Vec<String>,
    pub stream: bool,
    // sim
    pub servers: usize,
    pub capacity_tokens: Option<usize>,
    pub per_token_us: u64,
    pub concurrency: usize,
}

const HELP: &str = "routing benchmark: live|sim [options]
common:  --strategies a,b,...  (default sequential,weighted,least-loaded,cache-aware;
         cache-aware:N sets cache-aware-margin to N)
         --agents N --turns N --system-words N --user-words N --max-tokens N --json FILE
         --metrics-ttl-ms N (client setting, default 1000)
live:    --model M (smollm2-135m) --parallel N (llama-server -np, 4) --ctx N (-c, 16384)
         --threads N (-t, 1) --server-arg ARG (repeatable) --no-stream
sim:     --servers N (32) --capacity-tokens N (default: 1.5x a fair share of the working set)
         --per-token-us N (prefill per uncached token, 10) --concurrency N (256)";

fn parse() -> Args {
    let mut a = Args {
        mode: String::new(),
        strategies: ["sequential", "weighted", "least-loaded", "cache-aware"]
            .map(String::from)
            .to_vec(),
        agents: None,
        turns: None,
        system_words: None,
        user_words: 40,
        max_tokens: 12,
        json: None,
        metrics_ttl_ms: None,
        model: "smollm2-135m".into(),
        parallel: 4,
        ctx: 16384,
        threads: 1,
        server_args: Vec::new(),
        stream: true,
        servers: 32,
        capacity_tokens: None,
        per_token_us: 10,
        concurrency: 256,
    };
    let mut it = std::env::args().skip(1);
    let num = |v: Option<String>, name: &str| -> usize {
        v.and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{name} needs a number"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "live" | "sim" => a.mode = arg,
            "--bench" => {}
            "--strategies" => {
                a.strategies = it
                    .next()
                    .expect("--strategies a,b")
                    .split(',')
                    .map(String::from)
                    .collect()
            }
            "--agents" => a.agents = Some(num(it.next(), &arg)),
            "--turns" => a.turns = Some(num(it.next(), &arg)),
            "--system-words" => a.system_words = Some(num(it.next(), &arg)),
            "--user-words" => a.user_words = num(it.next(), &arg),
            "--max-tokens" => a.max_tokens = num(it.next(), &arg) as u32,
            // Relative to the repository root (cargo runs benchmarks in the package's).
            "--json" => a.json = it.next().map(|p| repo_root().join(p)),
            "--metrics-ttl-ms" => a.metrics_ttl_ms = Some(num(it.next(), &arg) as u32),
            "--model" => a.model = it.next().expect("--model M"),
            "--parallel" => a.parallel = num(it.next(), &arg) as u32,
            "--ctx" => a.ctx = num(it.next(), &arg) as u32,
            "--threads" => a.threads = num(it.next(), &arg) as u32,
            "--server-arg" => a.server_args.push(it.next().expect("--server-arg ARG")),
            "--no-stream" => a.stream = false,
            "--servers" => a.servers = num(it.next(), &arg),
            "--capacity-tokens" => a.capacity_tokens = Some(num(it.next(), &arg)),
            "--per-token-us" => a.per_token_us = num(it.next(), &arg) as u64,
            "--concurrency" => a.concurrency = num(it.next(), &arg),
            "-h" | "--help" => {
                println!("{HELP}");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other}\n{HELP}"),
        }
    }
    a
}

/// `target/bench/<name>` in the repository root.
pub fn default_json(name: &str) -> PathBuf {
    repo_root().join("target/bench").join(name)
}

pub fn repo_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository root")
        .to_path_buf()
}

/// The 1-minute load average, to print next to the figures.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Ends a run: prints the table and the load averages, and writes `figures` (with the load
/// averages added) to `--json`, else `target/bench/<default_name>`.
pub fn finish(
    a: &Args,
    table: &str,
    loads_before: &str,
    default_name: &str,
    figures: serde_json::Value,
) {
    let loads_after = load_average();
    println!("{table}");
    println!("load average before: {loads_before}; after: {loads_after}");
    let mut figures = figures;
    figures["load_before"] = serde_json::json!(loads_before);
    figures["load_after"] = serde_json::json!(loads_after);
    let path = a.json.clone().unwrap_or_else(|| default_json(default_name));
    write_json(&path, &figures);
}

pub fn write_json(path: &std::path::Path, value: &serde_json::Value) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(path, serde_json::to_string_pretty(value).expect("json"))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    eprintln!("wrote {}", path.display());
}

fn main() {
    let args = parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match args.mode.as_str() {
        "live" => rt.block_on(live::run(&args)),
        "sim" => rt.block_on(sim::run(&args)),
        _ => {
            eprintln!("{HELP}");
            std::process::exit(2);
        }
    }
}
