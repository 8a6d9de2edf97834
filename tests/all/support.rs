//! Shared by the test modules: the component compiled once per test binary, clients of
//! replay servers, fixtures, and the live llama.cpp server (started once per run by
//! scripts/local-server). Server answers are built with `replay_server::replies`.

use llm_core_host::types::*;
use llm_core_host::{HostOptions, LlmCore};
use replay_server::{ReplayServer, Reply};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use replay_server::replies::CHAT;

/// The embedded component, compiled once for the whole test binary.
pub fn compiled() -> &'static LlmCore {
    static CORE: OnceLock<LlmCore> = OnceLock::new();
    CORE.get_or_init(|| {
        LlmCore::new(HostOptions::default()).expect("the embedded component compiles")
    })
}

/// A host with default options and its own connection pool (bound to this test's runtime).
pub fn core() -> LlmCore {
    core_with(HostOptions::default())
}

pub fn core_with(options: HostOptions) -> LlmCore {
    compiled()
        .with_options(options)
        .expect("host options apply")
}

/// A client of one backend of `kind` at `base_url`, with short timeouts for tests.
pub async fn client(kind: BackendKind, base_url: &str) -> llm_core_host::Client {
    core()
        .client(config(kind, base_url))
        .await
        .expect("valid config")
}

pub fn config(kind: BackendKind, base_url: &str) -> ClientConfig {
    let mut c = ClientConfig::single(kind, base_url);
    c.timeouts.total_ms = Some(20_000);
    c.retry.initial_backoff_ms = Some(10);
    c.retry.max_backoff_ms = Some(50);
    c
}

/// A replay server and a vLLM client of it.
pub async fn vllm() -> (ReplayServer, llm_core_host::Client) {
    let server = ReplayServer::start().await;
    let c = client(BackendKind::Vllm, &server.base_url()).await;
    (server, c)
}

/// A request with a model, so no discovery request precedes the chat.
pub fn ask(text: &str) -> ChatRequest {
    let mut r = ChatRequest::user(text);
    r.model = Some("m".into());
    r
}

/// `n` copies of `ask("hi")` sent at once; their results in order.
pub async fn concurrent(
    client: &llm_core_host::Client,
    n: usize,
) -> Vec<Result<ChatResponse, Error>> {
    let calls = (0..n).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { c.chat(ask("hi")).await })
    });
    futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("call task"))
        .collect()
}

/// A fixture file's text (tests/fixtures: answers captured from or modelled on real servers).
pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// vLLM's answer as captured (`vllm-chat.json`): the usual "it worked" reply.
pub fn ok_reply() -> Reply {
    Reply::json(fixture("vllm-chat.json"))
}

/// The repository root (scripts, examples).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository root")
        .to_path_buf()
}

/// The base URL of the live llama.cpp server, started (or reused) once per run through
/// scripts/local-server (the first run builds it: minutes).
pub fn live_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("LLM_CORE_LIVE_URL") {
            return url;
        }
        start_local_server(&[])
    })
    .clone()
}

/// Starts (or reuses) a named local server instance with extra llama-server arguments.
pub fn start_local_server(args: &[&str]) -> String {
    let script = repo_root().join("scripts/local-server");
    let out = std::process::Command::new(&script)
        .arg("start")
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("scripts/local-server runs");
    assert!(
        out.status.success(),
        "scripts/local-server start {args:?} failed"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("the script prints the base URL")
        .trim()
        .to_string()
}

/// A path scripts/local-server knows (`LLAMA_SRC`, `MODEL`, ...).
pub fn local_server_path(key: &str) -> String {
    let script = repo_root().join("scripts/local-server");
    let out = std::process::Command::new(script)
        .arg("paths")
        .output()
        .expect("scripts/local-server paths");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
        .unwrap_or_else(|| panic!("scripts/local-server paths has no {key}"))
}

/// Live tests take turns: the llama.cpp server has 4 slots and the machine 2 cores, and
/// parallel generations only slow each other down.
pub async fn live_turn() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    TURN.get_or_init(|| tokio::sync::Mutex::new(()))
        .lock()
        .await
}
