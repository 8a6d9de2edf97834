//! A fleet of simulated LLM servers for routing benchmarks at a scale no test machine can
//! run for real: each listens on its own loopback port and keeps its own
//! [`PrefixCache`](crate::prefix_cache::PrefixCache), so where a router sends a conversation
//! decides what is cached. Answers are vLLM-shaped with
//! `usage.prompt_tokens_details.cached_tokens`; latency grows with the uncached prompt tokens
//! (prefill runs one request at a time per server, as compute-bound prefill does) plus a
//! fixed decode time; `/metrics` reports running and waiting requests as vLLM does, so
//! load-aware strategies see real queues. A server can be killed to measure what moves.

use crate::prefix_cache::{PrefixCache, prompt_tokens};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// How every simulated server behaves.
#[derive(Clone, Copy, Debug)]
pub struct SimConfig {
    /// Tokens each server's prefix cache holds.
    pub capacity_tokens: usize,
    /// Tokens per cache block (vLLM's default is 16).
    pub block_tokens: usize,
    /// Prefill time per uncached prompt token, serialized per server.
    pub per_uncached_token: Duration,
    /// Decode time of every answer, concurrent (batched).
    pub decode: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            capacity_tokens: 65_536,
            block_tokens: 16,
            per_uncached_token: Duration::from_micros(10),
            decode: Duration::from_millis(2),
        }
    }
}

/// What one simulated server has served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Chat completions answered.
    pub calls: u64,
    /// Prompt tokens received.
    pub prompt_tokens: u64,
    /// Of those, found in its cache.
    pub cached_tokens: u64,
}

struct ServerState {
    cache: PrefixCache,
    /// When the prefill queue is free again.
    busy_until: Instant,
    running: usize,
    waiting: usize,
    stats: SimStats,
}

struct SimServer {
    base_url: String,
    state: Arc<Mutex<ServerState>>,
    task: tokio::task::JoinHandle<()>,
    kill: tokio::sync::watch::Sender<bool>,
}

/// Simulated servers on loopback; they stop when the fleet is dropped.
pub struct SimFleet {
    servers: Vec<SimServer>,
}

impl Drop for SimFleet {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill(i);
        }
    }
}

impl SimFleet {
    /// Starts `n` servers on free loopback ports (within a tokio runtime).
    pub async fn start(n: usize, config: SimConfig) -> SimFleet {
        let mut servers = Vec::with_capacity(n);
        for _ in 0..n {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind a loopback port");
            servers.push(serve(listener, config));
        }
        SimFleet { servers }
    }

    /// The servers' base URLs (`http://127.0.0.1:PORT/v1`), in start order.
    pub fn base_urls(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.base_url.clone()).collect()
    }

    /// Each server's figures so far, in start order.
    pub fn stats(&self) -> Vec<SimStats> {
        self.servers.iter().map(|s| lock(&s.state).stats).collect()
    }

    /// Stops server `i` listening and drops its connections, like a crashed server.
    pub fn kill(&self, i: usize) {
        if let Some(s) = self.servers.get(i) {
            s.task.abort();
            let _ = s.kill.send(true);
        }
    }
}

fn lock(m: &Mutex<ServerState>) -> std::sync::MutexGuard<'_, ServerState> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn serve(listener: TcpListener, config: SimConfig) -> SimServer {
    let addr = listener.local_addr().expect("listener address");
    let state = Arc::new(Mutex::new(ServerState {
        cache: PrefixCache::new(config.capacity_tokens, config.block_tokens),
        busy_until: Instant::now(),
        running: 0,
        waiting: 0,
        stats: SimStats::default(),
    }));
    let (kill, killed) = tokio::sync::watch::channel(false);
    let shared = state.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let state = shared.clone();
            let mut killed = killed.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(state.clone(), config, req));
                let connection = http1::Builder::new().serve_connection(TokioIo::new(tcp), service);
                tokio::select! {
                    _ = connection => {}
                    _ = killed.wait_for(|k| *k) => {}
                }
            });
        }
    });
    SimServer {
        base_url: format!("http://{addr}/v1"),
        state,
        task,
        kill,
    }
}

type Answer = Response<http_body_util::combinators::BoxBody<Bytes, Infallible>>;

fn answer(status: u16, content_type: &str, body: String) -> Answer {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)).boxed())
        .expect("valid response")
}

async fn handle(
    state: Arc<Mutex<ServerState>>,
    config: SimConfig,
    req: Request<Incoming>,
) -> Result<Answer, Infallible> {
    let path = req.uri().path().to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Ok(match path.as_str() {
        "/metrics" => {
            let s = lock(&state);
            let text = format!(
                "vllm:num_requests_running{{model_name=\"m\"}} {}\nvllm:num_requests_waiting{{model_name=\"m\"}} {}\n",
                s.running, s.waiting
            );
            answer(200, "text/plain", text)
        }
        "/v1/models" => answer(
            200,
            "application/json",
            json!({"object": "list", "data": [{"id": "m", "object": "model", "max_model_len": 32768}]})
                .to_string(),
        ),
        "/v1/chat/completions" => chat(&state, config, &body).await,
        _ => answer(404, "application/json", r#"{"error":"not found"}"#.into()),
    })
}

/// Looks the prompt up, waits its turn in the prefill queue and its decode time, answers.
async fn chat(state: &Mutex<ServerState>, config: SimConfig, body: &[u8]) -> Answer {
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(body) else {
        return answer(400, "application/json", r#"{"error":"bad json"}"#.into());
    };
    let tokens = prompt_tokens(&request);
    let turn = request["messages"].as_array().map_or(0, Vec::len);
    let (lookup, prefill_done) = {
        let mut s = lock(state);
        let lookup = s.cache.serve(&tokens);
        let uncached = (lookup.prompt_tokens - lookup.cached_tokens) as u32;
        let start = s.busy_until.max(Instant::now());
        s.busy_until = start + config.per_uncached_token * uncached;
        s.waiting += 1;
        s.stats.calls += 1;
        s.stats.prompt_tokens += lookup.prompt_tokens as u64;
        s.stats.cached_tokens += lookup.cached_tokens as u64;
        (lookup, s.busy_until)
    };
    tokio::time::sleep_until(prefill_done).await;
    {
        let mut s = lock(state);
        s.waiting -= 1;
        s.running += 1;
    }
    tokio::time::sleep(config.decode).await;
    lock(state).running -= 1;
    let content = format!("Noted, step {turn} is done.");
    let completion = 5;
    let body = json!({
        "id": "chatcmpl-sim", "object": "chat.completion", "created": 1764000000, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "logprobs": null, "finish_reason": "stop", "stop_reason": null}],
        "usage": {
            "prompt_tokens": lookup.prompt_tokens, "completion_tokens": completion,
            "total_tokens": lookup.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": lookup.cached_tokens}
        }
    });
    answer(200, "application/json", body.to_string())
}
