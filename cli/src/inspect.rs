//! The `models` and `health` commands: what each backend serves and whether it is up. A
//! backend that does not answer is named, with why, and makes the exit status 1 — in both
//! commands the same way.

use crate::args::Target;
use crate::backends;
use crate::json;
use crate::terminal::{self, Failure, Stdout, for_stderr};
use llm_core_host::LlmCore;
use llm_core_host::types::*;
use serde_json::Value;
use std::process::ExitCode;

/// One line for a backend that is down: `gpu-b: down (connection: cannot connect ...)`.
fn down_line(backend: &str, e: &Error) -> String {
    format!(
        "{}: down ({}: {})",
        for_stderr(backend),
        e.code.name(),
        for_stderr(&e.message)
    )
}

pub async fn models(core: &LlmCore, t: &Target, out: &mut Stdout) -> Result<ExitCode, Failure> {
    let backends = backends::resolve(t)?;
    backends.tell_skipped(t.quiet);
    // The whole configuration first: a mistake in it is one error, told once.
    backends.open(core).await?;
    // Then each backend alone, so one that is down is named rather than left out.
    let each = backends.each();
    let lists = futures::future::join_all(
        each.iter()
            .map(|(_, config)| async { core.client(config.clone()).await?.list_models().await }),
    )
    .await;
    let mut models = Vec::new();
    let mut down = Vec::new();
    for ((name, _), list) in each.iter().zip(lists) {
        match list {
            Ok(list) => models.extend(list),
            Err(e) => down.push((name.clone(), e)),
        }
    }
    if models.is_empty() && down.len() == 1 && each.len() == 1 {
        // One backend and it failed: an error like any other call's.
        return Err(down.remove(0).1.into());
    }
    if t.json {
        out.line(&Value::Array(models.iter().map(json::model).collect()).to_string())?;
    } else {
        for m in &models {
            let len = m
                .max_model_len
                .map(|n| format!("  (context {n})"))
                .unwrap_or_default();
            out.server_text(&format!("{}\t{}{len}\n", m.id, m.backend))?;
        }
    }
    for (name, e) in &down {
        terminal::note(&format!(
            "{}; its models are not listed",
            down_line(name, e)
        ));
    }
    Ok(if down.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn health(core: &LlmCore, t: &Target, out: &mut Stdout) -> Result<ExitCode, Failure> {
    let backends = backends::resolve(t)?;
    backends.tell_skipped(t.quiet);
    let client = backends.open(core).await?;
    let report = client.health().await?;
    let all_up = report.iter().all(|h| h.healthy);
    if t.json {
        out.line(&Value::Array(report.iter().map(json::health).collect()).to_string())?;
    } else {
        out.line(&format!(
            "{:<24} {:<6} {:>9} {:>5}  models",
            "backend", "status", "latency", "load"
        ))?;
        for h in &report {
            let latency = h
                .latency_ms
                .map(|ms| format!("{ms} ms"))
                .unwrap_or_else(|| "-".into());
            let load = h.load.map(|l| l.to_string()).unwrap_or_else(|| "-".into());
            let status = if h.healthy { "up" } else { "down" };
            out.server_text(&format!(
                "{:<24} {:<6} {:>9} {:>5}  {}\n",
                h.backend,
                status,
                latency,
                load,
                h.models.join(", ")
            ))?;
            if let Some(e) = &h.error {
                out.server_text(&format!("  {}: {}\n", e.code.name(), e.message))?;
            }
        }
    }
    Ok(if all_up {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
