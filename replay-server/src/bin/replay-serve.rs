//! The replay server as a process, for tests and benchmarks in other languages (the Python
//! package's pytest suite, `benches/python_bench.py`): starts on a free loopback port, prints
//! its base URL (`http://127.0.0.1:PORT/v1`) as the first stdout line, then takes one JSON
//! command per stdin line and answers each with one JSON line. It exits when stdin closes.
//!
//! Commands:
//! - `{"on": PATH, "reply": R}`: the reply for every request to PATH (`{"ok": true}`);
//! - `{"push": PATH, "reply": R}`: a one-shot reply for the next request to PATH;
//! - `{"requests": PATH}` (or `null` for all): `[{"method","path","headers","body"}]`, the
//!   body as JSON when it parses, else as text;
//! - `{"connections": true}`: `{"open": N, "total": N}`, TCP connections open and accepted;
//! - `{"quiet": true}`: stop recording requests (benchmarks).
//!
//! A reply R is one of `{"text": S}`, `{"tool_calls": [[ID, NAME, ARGS]]}`,
//! `{"completion": MESSAGE, "finish": F}`, `{"stream": [S...]}`, `{"sse": [PAYLOAD...]}` (one
//! `data:` event per write), `{"sse_raw": [TEXT...]}` (each text one write, as given),
//! `{"endless": S, "every_ms": N}`, `{"error": STATUS, "message": S}`,
//! `{"json": BODY, "status": N}` (BODY text or a value), `{"models": [ID...]}`,
//! `{"hang": true}`; with optional `"delay_ms"` (between stream parts), `"after_ms"` (before
//! the head) and `"cut_after"` (close the connection after that many parts).

use replay_server::{ReplayServer, Reply, replies};
use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::time::Duration;

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn reply(r: &Value) -> Result<Reply, String> {
    let ms = |key: &str| r[key].as_u64().map(Duration::from_millis);
    let mut reply = if let Some(t) = r["text"].as_str() {
        replies::text(t)
    } else if let Some(calls) = r["tool_calls"].as_array() {
        let calls: Vec<Vec<String>> = calls.iter().map(strings).collect();
        let calls: Vec<(&str, &str, &str)> = calls
            .iter()
            .map(|c| (c[0].as_str(), c[1].as_str(), c[2].as_str()))
            .collect();
        replies::tool_calls(&calls)
    } else if r.get("completion").is_some() {
        replies::finished(
            r["completion"].clone(),
            r["finish"].as_str().unwrap_or("stop"),
        )
    } else if r.get("stream").is_some() {
        let parts = strings(&r["stream"]);
        replies::stream(&parts.iter().map(String::as_str).collect::<Vec<_>>())
    } else if r.get("sse_raw").is_some() {
        Reply::sse_raw(strings(&r["sse_raw"]))
    } else if r.get("sse").is_some() {
        let parts = strings(&r["sse"]);
        Reply::sse(&parts.iter().map(String::as_str).collect::<Vec<_>>())
    } else if let Some(t) = r["endless"].as_str() {
        replies::endless_content(t, ms("every_ms").unwrap_or(Duration::from_millis(10)))
    } else if let Some(status) = r["error"].as_u64() {
        replies::error(status as u16, r["message"].as_str().unwrap_or("error"))
    } else if let Some(body) = r.get("json") {
        let body = body.as_str().map_or_else(|| body.to_string(), String::from);
        Reply::status_json(r["status"].as_u64().unwrap_or(200) as u16, body)
    } else if r.get("models").is_some() {
        let ids = strings(&r["models"]);
        replies::models(&ids.iter().map(String::as_str).collect::<Vec<_>>())
    } else if r["hang"].as_bool() == Some(true) {
        Reply::Hang
    } else {
        return Err(format!("unknown reply {r}"));
    };
    if let Some(d) = ms("delay_ms") {
        reply = reply.delayed(d);
    }
    if let Some(n) = r["cut_after"].as_u64() {
        reply = reply.cut_after(n as usize);
    }
    if let Some(d) = ms("after_ms") {
        reply = reply.after(d);
    }
    Ok(reply)
}

fn command(server: &ReplayServer, c: &Value) -> Result<Value, String> {
    if let Some(path) = c["on"].as_str() {
        server.on(path, reply(&c["reply"])?);
    } else if let Some(path) = c["push"].as_str() {
        server.push(path, reply(&c["reply"])?);
    } else if let Some(which) = c.get("requests") {
        let recorded: Vec<Value> = server
            .requests()
            .into_iter()
            .filter(|r| which.as_str().is_none_or(|p| p == r.path))
            .map(|r| {
                let body = serde_json::from_slice(&r.body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&r.body).into()));
                let headers: serde_json::Map<String, Value> = r
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone())))
                    .collect();
                json!({"method": r.method, "path": r.path, "headers": headers, "body": body})
            })
            .collect();
        return Ok(Value::Array(recorded));
    } else if c["connections"].as_bool() == Some(true) {
        return Ok(json!({"open": server.open_connections(), "total": server.connections()}));
    } else if c["quiet"].as_bool() == Some(true) {
        server.quiet();
    } else {
        return Err(format!("unknown command {c}"));
    }
    Ok(json!({"ok": true}))
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let server = runtime.block_on(async { ReplayServer::start().await });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", server.base_url());
    let _ = out.flush();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let answer = serde_json::from_str::<Value>(&line)
            .map_err(|e| format!("not JSON: {e}"))
            .and_then(|c| command(&server, &c))
            .unwrap_or_else(|e| json!({"error": e}));
        let _ = writeln!(out, "{answer}");
        let _ = out.flush();
    }
    drop(server);
}
