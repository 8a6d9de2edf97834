//! The orchestrator's decisions, natively: retries and backoff, failover and cooldowns,
//! routing across calls, discovery and its cache, probes, and the stream state machine —
//! each driven through the public call paths over a scripted transport and a fake clock.

use super::Client;
use super::fake::{FakeIo, Reply, Step, delta, event, refused};
use crate::io::{Method, Wait};
use crate::testing::{backend_config, client_config};
use crate::types::*;

const A: &str = "http://a:8000";
const B: &str = "http://b:8000";
const DONE: &str = "[DONE]";

fn chat_url(origin: &str) -> String {
    format!("{origin}/v1/chat/completions")
}

/// A client over these origins (each serving model `m`), with a fixed routing seed and
/// fast, deterministic retries.
fn client(io: &FakeIo, origins: &[&str], edit: impl FnOnce(&mut ClientConfig)) -> Client<FakeIo> {
    let backends = origins
        .iter()
        .map(|o| {
            let mut b = backend_config(&format!("{o}/v1"));
            b.models = vec!["m".into()];
            b
        })
        .collect();
    let mut config = client_config(backends);
    config.routing_seed = Some(0);
    config.retry.initial_backoff_ms = Some(100);
    config.retry.max_backoff_ms = Some(1000);
    edit(&mut config);
    Client::open(config, io.clone()).expect("valid config")
}

fn ask() -> ChatRequest {
    ChatRequest::user("hi")
}

fn server_error() -> Reply {
    Reply::status(500, r#"{"error":{"message":"boom"}}"#)
}

mod control;
mod detection;
mod discovery;
mod probes;
/// A vLLM model list.
const MODELS: &str = r#"{"data":[{"id":"qwen","owned_by":"vllm","max_model_len":8192}]}"#;

mod retries;
mod routing;
mod streams;

fn finish() -> Step {
    event(r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#)
}

fn contents(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Content(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// Every event until the end (or the error), and the final record.
fn drain(s: &mut super::ChatStream<FakeIo>) -> (String, Result<ChatResponse, Error>) {
    let mut text = String::new();
    loop {
        match s.next(Wait::Block) {
            Ok(events) if events.is_empty() => panic!("ended without done"),
            Ok(events) => {
                text.push_str(&contents(&events));
                if let Some(StreamEvent::Done(r)) = events.last() {
                    return (text, Ok(r.clone()));
                }
            }
            Err(e) => return (text, Err(e)),
        }
    }
}
