//! The table on stdout and the JSON file (`--json`), with the machine they were measured on.

use crate::args::Args;
use serde_json::{Value, json};

#[derive(Default)]
pub struct Row {
    pub name: &'static str,
    pub unit: &'static str,
    pub component: Option<f64>,
    pub native: Option<f64>,
    pub python: Option<f64>,
    /// Higher is better (throughput) or lower (latency, memory, time).
    pub higher_better: bool,
    pub target: &'static str,
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
        c.lines().find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
    });
    let mem = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .next()
            .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
    });
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory_gib": mem.and_then(|kb| kb.parse::<f64>().ok()).map(|kb| (kb / 1048576.0 * 10.0).round() / 10.0),
        "os": std::env::consts::OS,
    })
}

pub fn report(rows: &[Row], args: &Args) {
    let m = machine();
    println!(
        "\naios-llm-core benchmark — {} ({} cores, {} GiB){}\n",
        m["cpu"].as_str().unwrap_or("?"),
        m["cores"],
        m["memory_gib"],
        if args.quick { ", quick" } else { "" }
    );
    println!(
        "{:<34} {:>9} {:>12} {:>12} {:>12} {:>10} {:>10}  target",
        "figure", "unit", "component", "native", "openai-py", "c/native", "c/python"
    );
    let fmt = |v: Option<f64>| {
        v.map(|v| {
            if v >= 100.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        })
        .unwrap_or_else(|| "-".into())
    };
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => format!("{:.2}×", a / b),
        _ => "-".into(),
    };
    let mut out = Vec::new();
    for r in rows {
        println!(
            "{:<34} {:>9} {:>12} {:>12} {:>12} {:>10} {:>10}  {}",
            r.name,
            r.unit,
            fmt(r.component),
            fmt(r.native),
            fmt(r.python),
            ratio(r.component, r.native),
            ratio(r.component, r.python),
            r.target
        );
        out.push(json!({
            "figure": r.name, "unit": r.unit, "component": r.component, "native": r.native, "openai_python": r.python,
            "component_over_native": r.component.zip(r.native).map(|(a, b)| a / b),
            "component_over_python": r.component.zip(r.python).map(|(a, b)| a / b),
            "higher_is_better": r.higher_better, "target": r.target,
        }));
    }
    if let Some(dir) = args.json.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let doc = json!({"machine": m, "quick": args.quick, "rows": out});
    match std::fs::write(
        &args.json,
        serde_json::to_string_pretty(&doc).unwrap_or_default(),
    ) {
        Ok(()) => println!("\nJSON: {}", args.json.display()),
        Err(e) => eprintln!("cannot write {}: {e}", args.json.display()),
    }
}
