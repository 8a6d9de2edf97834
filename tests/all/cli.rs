//! The `llm-core` CLI as a user runs it: a subprocess against the replay server, with its
//! output on pipes or (through util-linux `script`) on a terminal.

use crate::support::{CHAT, repo_root};
use replay_server::replies::{self, chunk, content_chunk};
use replay_server::{ReplayServer, Reply};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod chat;
mod config;
mod extras;
mod flags;
mod suspend;
mod terminal;

/// The binary under test.
const CLI_BIN: &str = "llm-core";

/// The `llm-core` binary, up to date (`LLM_CORE_BIN=/path/to/llm-core` uses that binary).
fn llm_core_exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        if let Some(path) = std::env::var_os("LLM_CORE_BIN") {
            return path.into();
        }
        cargo_build("--bins")
            .remove(CLI_BIN)
            .unwrap_or_else(|| panic!("cargo reported no {CLI_BIN} executable"))
    })
}

/// Builds the workspace's binaries (`--bins`) or examples (`--examples`) and returns their
/// executables by target name. `cargo test` builds the binaries of a package only for that
/// package's own tests, so this asks cargo for them, built with this test binary's profile
/// into the same target directory: a no-op when they are current. `--workspace` keeps the
/// feature set of `cargo test --workspace`, so no dependency is compiled a second time.
pub fn cargo_build(which: &str) -> HashMap<String, PathBuf> {
    // This binary is `<target>/<profile dir>/deps/all-<hash>`.
    let me = std::env::current_exe().expect("the test binary's path");
    let profile_dir = me
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps");
    let target = profile_dir.parent().expect("a target directory");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(name) => name,
        None => panic!("no profile directory above {}", me.display()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .current_dir(repo_root())
        .args(["build", "--workspace", which])
        .args([
            "--profile",
            profile,
            "--message-format",
            "json-render-diagnostics",
        ])
        .arg("--target-dir")
        .arg(target)
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "cargo build {which} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| {
            let name = m["target"]["name"].as_str()?.to_string();
            Some((name, PathBuf::from(m["executable"].as_str()?)))
        })
        .collect()
}

/// The `llm-core` binary's path, built on first use (blocking: a cargo run).
pub async fn exe() -> &'static Path {
    tokio::task::block_in_place(llm_core_exe)
}

/// `llm-core ARGS...` with none of its environment variables set, stdin closed.
pub async fn command(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(exe().await);
    cmd.args(args)
        .env_remove("LLM_CORE_BASE_URL")
        .env_remove("LLM_CORE_API_KEY")
        .env_remove("LLM_CORE_COMPONENT")
        .stdin(Stdio::null());
    cmd
}

/// Runs `llm-core ARGS...` with no stdin and none of its environment variables set.
pub async fn llm_core(args: &[&str]) -> Output {
    command(args).await.output().await.expect("llm-core runs")
}

/// Runs `llm-core ARGS...` on a terminal (util-linux `script` gives it one for stdin,
/// stdout and stderr), typing `input` then end-of-file; returns what the terminal showed
/// (stdout and stderr together, lines ending in `\r\n`) and the exit status.
async fn in_terminal(args: &[&str], input: &str) -> (String, Option<i32>) {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut line = quote(&exe().await.display().to_string());
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    let mut child = tokio::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env_remove("LLM_CORE_BASE_URL")
        .env_remove("LLM_CORE_API_KEY")
        .env_remove("LLM_CORE_COMPONENT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("these tests need util-linux `script` for a terminal");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let o = child.wait_with_output().await.unwrap();
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        o.status.code(),
    )
}

/// `llm-core chat --base-url URL --model m ARGS...`
async fn chat_cmd(url: &str, args: &[&str]) -> Output {
    let mut all = vec!["chat", "--base-url", url, "--model", "m"];
    all.extend_from_slice(args);
    llm_core(&all).await
}

/// What the run printed on stdout.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What the run printed on stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub async fn server() -> (ReplayServer, String) {
    let s = ReplayServer::start().await;
    let url = s.base_url();
    (s, url)
}

/// A fresh directory for one test run's files.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llm-core-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
