//! The command line (`cargo bench ... -- [--quick] [--json FILE] [--python PYTHON]
//! [--component FILE ...]`) and the size of each workload.

use std::path::PathBuf;

pub struct Args {
    /// Child mode: measure memory per in-flight call for one client in a fresh process.
    pub rss_child: Option<(String, String)>,
    pub quick: bool,
    pub json: PathBuf,
    pub python: Option<String>,
    pub components: Vec<PathBuf>,
}

pub fn parse() -> Args {
    let mut a = Args {
        rss_child: None,
        quick: false,
        json: default_json(),
        python: None,
        components: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => a.quick = true,
            "--json" => a.json = it.next().expect("--json FILE").into(),
            "--python" => a.python = it.next(),
            "--component" => a
                .components
                .push(it.next().expect("--component FILE").into()),
            "--bench" => {}
            "--rss-child" => {
                a.rss_child = Some((it.next().expect("client"), it.next().expect("url")))
            }
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// Sizes of each workload.
pub struct Plan {
    pub rounds: usize,
    pub latency_calls: usize,
    pub throughput_seconds: f64,
    pub one_stream_events: usize,
    pub many_streams: usize,
    pub events_per_stream: usize,
    pub python_calls: usize,
}

/// `target/bench/compare.json` in the repository root.
fn default_json() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository root")
        .join("target/bench/compare.json")
}
