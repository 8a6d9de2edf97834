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

mod extras;
mod suspend;

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

#[tokio::test(flavor = "multi_thread")]
async fn chat_prints_the_answer_or_the_record() {
    let (server, url) = server().await;
    server.on(CHAT, replies::text("Hi there!"));
    let o = chat_cmd(
        &url,
        &[
            "--system",
            "Be brief",
            "--temperature",
            "0.5",
            "--max-tokens",
            "9",
            "Say",
            "hi",
        ],
    )
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "Hi there!\n");
    let sent = server.last().json();
    assert_eq!(
        sent["messages"],
        json!([{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Say hi"}])
    );
    assert_eq!(
        (sent["temperature"].clone(), sent["max_tokens"].clone()),
        (json!(0.5), json!(9))
    );

    let o = chat_cmd(&url, &["--json", "Say hi"]).await;
    let record: Value = serde_json::from_str(&stdout(&o)).unwrap();
    for key in [
        "content",
        "reasoning",
        "tool_calls",
        "finish_reason",
        "usage",
        "model",
        "backend",
    ] {
        assert!(record.get(key).is_some(), "{key} in {record}");
    }
    assert_eq!(record["content"], json!("Hi there!"));
    assert_eq!(record["usage"]["total_tokens"], json!(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_one_line_or_an_error_record_with_a_nonzero_exit() {
    let (server, url) = server().await;
    server.on(CHAT, replies::unauthorized());
    let o = chat_cmd(&url, &["--api-key", "sk-hidden", "hi"]).await;
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error (unauthorized, backend 127.0.0.1:") && err.contains("HTTP 401"),
        "{err}"
    );
    assert!(!err.contains("sk-hidden"));

    let o = chat_cmd(&url, &["--json", "hi"]).await;
    assert_eq!(o.status.code(), Some(1));
    let e: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (e["error"]["kind"].clone(), e["error"]["status"].clone()),
        (json!("unauthorized"), json!(401))
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unauthorized")
    );

    let o = llm_core(&[
        "chat",
        "--base-url",
        "http://127.0.0.1:1/v1",
        "--model",
        "m",
        "hi",
    ])
    .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("connection refused"), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_and_output_constraints() {
    let (server, url) = server().await;
    let dir = std::env::temp_dir().join(format!("llm-core-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tools = dir.join("tools.json");
    std::fs::write(&tools, r#"[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]"#).unwrap();
    let schema = dir.join("city.json");
    std::fs::write(
        &schema,
        r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#,
    )
    .unwrap();
    let grammar = dir.join("yes.gbnf");
    std::fs::write(&grammar, "root ::= \"yes\"").unwrap();
    let tools_s = tools.to_str().unwrap();

    server.push(
        CHAT,
        replies::tool_calls(&[("t1", "get_weather", r#"{"city":"Paris"}"#)]),
    );
    let o = chat_cmd(
        &url,
        &[
            "--tools",
            tools_s,
            "--tool-choice",
            "get_weather",
            "--json",
            "weather?",
        ],
    )
    .await;
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        r["tool_calls"],
        json!([{"id": "t1", "name": "get_weather", "arguments": {"city": "Paris"}}]),
        "arguments as a JSON value"
    );
    let sent = server.last().json();
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "function", "function": {"name": "get_weather"}})
    );
    assert_eq!(sent["tools"][0]["function"]["name"], json!("get_weather"));

    server.on(CHAT, replies::text(r#"{"city": "Paris"}"#));
    let cases: Vec<(Vec<&str>, &str, Value)> = vec![
        (
            vec!["--json-object"],
            "response_format",
            json!({"type": "json_object"}),
        ),
        (
            vec!["--json-schema", schema.to_str().unwrap()],
            "response_format",
            json!({"type": "json_schema", "json_schema": {"name": "city", "schema": {"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}, "strict": true}}),
        ),
        (
            vec!["--backend", "vllm", "--regex", "[A-Za-z{}:\" ]+"],
            "structured_outputs",
            json!({"regex": "[A-Za-z{}:\" ]+"}),
        ),
        (
            vec!["--backend", "vllm", "--choice", r#"{"city": "Paris"},no"#],
            "structured_outputs",
            json!({"choice": [r#"{"city": "Paris"}"#, "no"]}),
        ),
        (
            vec!["--backend", "vllm", "--grammar", grammar.to_str().unwrap()],
            "structured_outputs",
            json!({"grammar": "root ::= \"yes\""}),
        ),
        (
            vec![
                "--backend",
                "sglang",
                "--grammar",
                grammar.to_str().unwrap(),
            ],
            "ebnf",
            json!("root ::= \"yes\""),
        ),
        (
            vec!["--backend", "openai", "--choice", r#"{"city": "Paris"},no"#],
            "grammar",
            json!(r#"root ::= "{\"city\": \"Paris\"}" | "no""#),
        ),
    ];
    for (flags, field, value) in cases {
        let mut args = vec!["chat", "--base-url", &url, "--model", "m"];
        args.extend(&flags);
        args.push("x");
        let o = llm_core(&args).await;
        assert!(o.status.success(), "{flags:?}: {}", stderr(&o));
        assert_eq!(server.last().json()[field], value, "{flags:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_prints_tokens_and_a_summary_or_json_lines() {
    let (server, url) = server().await;
    let events = [
        chunk(
            json!({"role": "assistant", "content": "", "reasoning_content": "hmm"}),
            None,
        ),
        content_chunk("Hel"),
        chunk(json!({"content": "lo"}), Some("stop")),
        replies::usage_chunk(4, 3),
        replies::DONE.to_string(),
    ];
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    server.on(CHAT, Reply::sse(&refs));
    let o = chat_cmd(&url, &["--stream", "hi"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "[reasoning] hmm\n[answer] Hello\n");
    let summary = stderr(&o);
    for part in [
        "ms to first token",
        "tokens/s",
        "4 prompt + 3 completion tokens",
        "finish: stop",
    ] {
        assert!(summary.contains(part), "{part} in {summary}");
    }

    let o = chat_cmd(&url, &["--stream", "--json", "hi"]).await;
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0], json!({"type": "reasoning", "text": "hmm"}));
    assert_eq!(lines[1], json!({"type": "content", "text": "Hel"}));
    assert_eq!(lines.last().unwrap()["type"], json!("done"));
    assert_eq!(lines.last().unwrap()["response"]["content"], json!("Hello"));

    // A failure mid-stream: the last line is the error record with the partial answer.
    server.on(
        CHAT,
        Reply::sse(&[&content_chunk("Par"), &replies::error_body(500, "boom")]),
    );
    let o = chat_cmd(&url, &["--stream", "--json", "hi"]).await;
    assert_eq!(o.status.code(), Some(1));
    let last: Value = serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
    assert_eq!(last["error"]["partial"]["content"], json!("Par"));
}

#[tokio::test(flavor = "multi_thread")]
async fn models_and_health_commands() {
    let (server, url) = server().await;
    server.on(replies::MODELS, replies::models(&["Qwen/Qwen3-8B"]));
    server.on("/health", Reply::text(200, ""));
    server.on(
        "/metrics",
        Reply::text(
            200,
            "vllm:num_requests_running 1\nvllm:num_requests_waiting 2\n",
        ),
    );
    let o = llm_core(&["models", "--base-url", &url]).await;
    assert_eq!(
        stdout(&o),
        format!(
            "Qwen/Qwen3-8B\t{}  (context {})\n",
            server.addr(),
            replies::MAX_MODEL_LEN
        )
    );
    let o = llm_core(&["health", "--base-url", &url]).await;
    assert!(o.status.success());
    let table = stdout(&o);
    let row = table.lines().nth(1).unwrap();
    assert!(
        row.contains(" up ") && row.contains(" 3  Qwen/Qwen3-8B"),
        "{table}"
    );

    let o = llm_core(&["health", "--base-url", "http://127.0.0.1:1/v1", "--json"]).await;
    assert_eq!(o.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (
            report[0]["healthy"].clone(),
            report[0]["error"]["kind"].clone()
        ),
        (json!(false), json!("connection"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn config_files_drive_chat_and_the_health_table() {
    let (a, url_a) = server().await;
    let (b, url_b) = server().await;
    for s in [&a, &b] {
        s.on(CHAT, replies::text("routed"));
        s.on("/health", Reply::text(200, "{\"status\":\"ok\"}"));
    }
    a.on(
        "/metrics",
        Reply::text(
            200,
            "llamacpp:requests_processing 2\nllamacpp:requests_deferred 1\n",
        ),
    );
    let dir = std::env::temp_dir().join(format!("llm-core-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = dir.join("llm-core.toml");
    std::fs::write(
        &toml,
        format!(
            "default-model = \"m\"\nrouting = \"sequential\"\n[[backends]]\nname = \"alpha\"\nkind = \"openai-compatible\"\nbase-url = \"{url_a}\"\nmodels = [\"m\"]\n[[backends]]\nname = \"beta\"\nkind = \"vllm\"\nbase-url = \"{url_b}\"\nmodels = [\"m\"]\n"
        ),
    )
    .unwrap();
    let toml_s = toml.to_str().unwrap();
    for _ in 0..16 {
        let o = llm_core(&["chat", "--config", toml_s, "hi"]).await;
        assert_eq!(stdout(&o), "routed\n", "{}", stderr(&o));
    }
    let (na, nb) = (a.requests_to(CHAT).len(), b.requests_to(CHAT).len());
    assert_eq!(na + nb, 16);
    assert!(
        na > 0 && nb > 0,
        "one-shot runs start round-robin at random: {na}/{nb}"
    );

    let o = llm_core(&["health", "--config", toml_s]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    let alpha = table.lines().find(|l| l.starts_with("alpha")).unwrap();
    let beta = table.lines().find(|l| l.starts_with("beta")).unwrap();
    assert!(alpha.contains(" up ") && alpha.contains(" 3  m"), "{table}");
    assert!(
        beta.contains(" up ") && beta.contains("     -  m"),
        "no metrics: {table}"
    );

    let yaml = dir.join("config.yaml");
    std::fs::write(
        &yaml,
        format!(
            "llms:\n  models:\n    - name: m\n      backend: vllm\n      hostname: \"{url_b}\"\n"
        ),
    )
    .unwrap();
    let o = llm_core(&["chat", "--config", yaml.to_str().unwrap(), "--json", "hi"]).await;
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["backend"], json!(b.addr().to_string()));

    std::fs::write(
        &toml,
        "[[backends]]\nkind = \"vllm\"\nbase-url = \"http://a/v1\"\nbase_url = \"typo\"\n",
    )
    .unwrap();
    let o = llm_core(&["chat", "--config", toml_s, "hi"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("invalid-config") && stderr(&o).contains("base_url"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_aios_config_yaml_routes_each_model_to_its_server() {
    let (qwen, qwen_url) = server().await;
    let (llama, llama_url) = server().await;
    qwen.on(CHAT, replies::text("from qwen"));
    llama.on(CHAT, replies::text("from llama"));
    let yaml = std::env::temp_dir().join(format!("aios-config-{}.yaml", std::process::id()));
    std::fs::write(
        &yaml,
        format!(
            "llms:\n  models:\n    - name: \"Qwen/Qwen2.5-7B-Instruct\"\n      backend: \"vllm\"\n      hostname: \"{qwen_url}\"\n    - name: \"meta-llama/Llama-3.1-8B-Instruct\"\n      backend: \"sglang\"\n      hostname: \"{llama_url}\"\n  router:\n    strategy: \"sequential\"\n"
        ),
    )
    .unwrap();
    let yaml_s = yaml.to_str().unwrap();
    // No model: the file's first one.
    let o = llm_core(&["chat", "--config", yaml_s, "default model"]).await;
    assert_eq!(stdout(&o), "from qwen\n", "{}", stderr(&o));
    assert_eq!(
        qwen.last().json()["model"],
        json!("Qwen/Qwen2.5-7B-Instruct")
    );
    let o = llm_core(&[
        "chat",
        "--config",
        yaml_s,
        "--model",
        "meta-llama/Llama-3.1-8B-Instruct",
        "hi",
    ])
    .await;
    assert_eq!(stdout(&o), "from llama\n", "{}", stderr(&o));
    assert_eq!(
        (qwen.requests_to(CHAT).len(), llama.requests_to(CHAT).len()),
        (1, 1)
    );
    std::fs::remove_file(&yaml).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn max_tokens_has_a_default_that_zero_lifts_and_a_cut_answer_says_so() {
    let (server, url) = server().await;
    server.on(CHAT, replies::text("ok"));
    let o = chat_cmd(&url, &["hi"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(server.last().json()["max_tokens"], json!(1024));
    assert_eq!(stderr(&o), "", "a quick answer has no notes");
    let o = chat_cmd(&url, &["--max-tokens", "0", "hi"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(server.last().json().get("max_tokens"), None);

    server.on(
        CHAT,
        replies::finished(
            json!({"role": "assistant", "content": "One, two"}),
            "length",
        ),
    );
    let o = chat_cmd(&url, &["hi"]).await;
    assert_eq!(stdout(&o), "One, two\n");
    assert!(
        stderr(&o).contains("stopped at --max-tokens 1024"),
        "{}",
        stderr(&o)
    );
    let o = chat_cmd(&url, &["--quiet", "hi"]).await;
    assert_eq!(stderr(&o), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_answer_gets_a_waiting_line_on_stderr() {
    let (server, url) = server().await;
    server.on(
        CHAT,
        replies::text("late").after(Duration::from_millis(2600)),
    );
    let (o, quiet) = tokio::join!(chat_cmd(&url, &["hi"]), chat_cmd(&url, &["--quiet", "hi"]));
    assert_eq!(stdout(&o), "late\n");
    assert_eq!(
        stderr(&o),
        format!("waiting for {} (m)… 2 s\n", server.addr())
    );
    assert_eq!(
        (stdout(&quiet).as_str(), stderr(&quiet).as_str()),
        ("late\n", "")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prompt_typed_at_a_terminal_is_announced_and_read() {
    let (server, url) = server().await;
    server.on(CHAT, replies::text("Hi!"));
    let (shown, code) = in_terminal(
        &["chat", "--base-url", &url, "--model", "m", "--no-stream"],
        "Say hi\n",
    )
    .await;
    assert_eq!(code, Some(0), "{shown}");
    assert!(
        shown.contains("reading the prompt from stdin; end it with Ctrl-D"),
        "{shown}"
    );
    assert!(shown.contains("Hi!"), "{shown}");
    assert_eq!(
        server.last().json()["messages"],
        json!([{"role": "user", "content": "Say hi\n"}])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn server_text_cannot_drive_the_terminal_but_pipes_and_json_stay_exact() {
    let (server, url) = server().await;
    let hostile = "A\u{1b}]0;pwned\u{7}B\u{1b}[2JC\rD\u{9b}31mE\tF";
    let escaped = r"A\x1b]0;pwned\x07B\x1b[2JC\x0dD\u{9b}31mE";
    server.on(CHAT, replies::text(hostile));
    // On a terminal, not streamed and streamed (the default there).
    let (shown, code) = in_terminal(
        &[
            "chat",
            "--base-url",
            &url,
            "--model",
            "m",
            "--no-stream",
            "hi",
        ],
        "",
    )
    .await;
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains(escaped), "{shown:?}");
    assert!(
        !shown.contains("\u{1b}]0;") && !shown.contains("\u{1b}[2J"),
        "{shown:?}"
    );
    server.on(CHAT, replies::stream(&["A\u{1b}[2J", "B\u{7}C"]));
    let (shown, code) = in_terminal(&["chat", "--base-url", &url, "--model", "m", "hi"], "").await;
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains(r"A\x1b[2JB\x07C"), "{shown:?}");
    assert!(
        !shown.contains("\u{1b}[2J") && !shown.contains('\u{7}'),
        "{shown:?}"
    );
    // On a terminal with --json: JSON, which escapes them itself, and exact once parsed.
    server.on(CHAT, replies::text(hostile));
    let (shown, _) = in_terminal(
        &["chat", "--base-url", &url, "--model", "m", "--json", "hi"],
        "",
    )
    .await;
    let record: Value = serde_json::from_str(shown.lines().next().unwrap()).unwrap();
    assert_eq!(record["content"], json!(hostile));
    // Into a pipe: the bytes as sent.
    let o = chat_cmd(&url, &["hi"]).await;
    assert_eq!(stdout(&o), format!("{hostile}\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_that_stops_early_ends_the_run_quietly() {
    let (server, url) = server().await;
    // Not streamed: the reader is gone before the answer is written.
    server.on(
        CHAT,
        replies::text("Hello there").after(Duration::from_millis(300)),
    );
    let mut child = command(&[
        "chat",
        "--base-url",
        &url,
        "--model",
        "m",
        "--no-stream",
        "hi",
    ])
    .await
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().await.unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "no panic, no backtrace");

    // Streamed: `| head -c1` reads one byte and leaves; the stream stops there.
    let parts: Vec<String> = (0..10)
        .map(|i| content_chunk(&format!("part {i} ")))
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    server.on(CHAT, Reply::sse(&parts).delayed(Duration::from_millis(300)));
    let started = Instant::now();
    let mut child = command(&["chat", "--base-url", &url, "--model", "m", "--stream", "hi"])
        .await
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .await
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().await.unwrap();
    assert_eq!(
        (first[0], o.status.code()),
        (b'p', Some(0)),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o), "");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "the stream was abandoned, not read to its end: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn config_file_mistakes_name_the_place_never_the_value() {
    let dir = temp_dir("cfg-values");
    let toml = dir.join("llm-core.toml");
    std::fs::write(
        &toml,
        "[[backends]]\nname = \"gpu-b\"\nkind = \"vllm\"\nbase-url = \"http://127.0.0.1:1/v1\"\napi-key = 12345678\n",
    )
    .unwrap();
    let o = llm_core(&["health", "--config", toml.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("line 5") && e.contains("invalid-config"), "{e}");
    assert!(!e.contains("12345678"), "{e}");

    std::fs::write(
        &toml,
        "[[backends]]\nname = \"gpu-b\"\nkind = \"sglang\"\nbase-url = \"http://127.0.0.1:1/v1\"\napi-key-env = \"LLM_CORE_TEST_UNSET_KEY\"\n",
    )
    .unwrap();
    let o = llm_core(&["health", "--config", toml.to_str().unwrap()]).await;
    let e = stderr(&o);
    assert!(
        e.contains("backend `gpu-b`: api-key-env: $LLM_CORE_TEST_UNSET_KEY is not set; export LLM_CORE_TEST_UNSET_KEY="),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn aios_entries_of_other_backends_are_named_when_skipped_and_when_asked_for() {
    let (server, url) = server().await;
    server.on(CHAT, replies::text("from vllm"));
    let dir = temp_dir("aios-skipped");
    let yaml = dir.join("config.yaml");
    std::fs::write(
        &yaml,
        format!(
            "llms:\n  models:\n    - name: \"m\"\n      backend: \"vllm\"\n      hostname: \"{url}\"\n    - name: \"gpt-4o-mini\"\n      backend: \"openai\"\n    - name: \"gemini-1.5-flash\"\n      backend: \"gemini\"\n"
        ),
    )
    .unwrap();
    let yaml_s = yaml.to_str().unwrap();
    let o = llm_core(&["chat", "--config", yaml_s, "hi"]).await;
    assert_eq!(stdout(&o), "from vllm\n", "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "note: {yaml_s}: skipped llms.models entries of backends llm-core does not serve (it serves vllm and sglang): gpt-4o-mini (backend openai), gemini-1.5-flash (backend gemini)\n"
        )
    );
    let o = llm_core(&["chat", "--config", yaml_s, "--quiet", "hi"]).await;
    assert_eq!(stderr(&o), "");

    let o = llm_core(&["chat", "--config", yaml_s, "--model", "gpt-4o-mini", "hi"]).await;
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    let last = e.lines().last().unwrap();
    assert!(
        last.starts_with("error (unknown-model)")
            && last.contains(
                "lists `gpt-4o-mini` under backend `openai`, which llm-core does not serve"
            ),
        "{e}"
    );
    let o = llm_core(&[
        "chat", "--config", yaml_s, "--model", "llama3", "--json", "hi",
    ])
    .await;
    let record: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let message = record["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("skipped from") && message.contains("gemini-1.5-flash (backend gemini)"),
        "{message}"
    );
    assert_eq!(
        server.requests_to(CHAT).len(),
        2,
        "unknown models are not sent"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn models_names_a_backend_that_is_down() {
    let (server, url) = server().await;
    server.on(replies::MODELS, replies::models(&["m"]));
    let down = "http://127.0.0.1:1/v1";
    let o = llm_core(&["models", "--base-url", &url, "--base-url", down]).await;
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        format!(
            "m\t{}  (context {})\n",
            server.addr(),
            replies::MAX_MODEL_LEN
        )
    );
    let e = stderr(&o);
    assert!(
        e.starts_with("127.0.0.1:1: down (connection: ")
            && e.ends_with("; its models are not listed\n"),
        "{e}"
    );
    let o = llm_core(&["models", "--json", "--base-url", &url, "--base-url", down]).await;
    assert_eq!(o.status.code(), Some(1));
    let list: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(list[0]["id"], json!("m"));
    assert!(stderr(&o).contains("127.0.0.1:1: down"));
    // One backend, down: an error like any call's.
    let o = llm_core(&["models", "--base-url", down]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error (connection, backend 127.0.0.1:1)"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_required_tool_call_that_does_not_come_is_invalid_output() {
    let (server, url) = server().await;
    let tools = repo_root().join("examples/weather.tools.json");
    let tools = tools.to_str().unwrap();
    server.on(CHAT, replies::text("I'd rather not."));
    for choice in ["required", "get_weather"] {
        let o = chat_cmd(
            &url,
            &["--tools", tools, "--tool-choice", choice, "weather?"],
        )
        .await;
        assert_eq!(o.status.code(), Some(1), "{choice}");
        let e = stderr(&o);
        assert!(e.starts_with("error (invalid-output, backend"), "{e}");
        assert!(e.contains("the server's answer: I'd rather not."), "{e}");
        assert_eq!(stdout(&o), "");
    }
    let o = chat_cmd(
        &url,
        &[
            "--tools",
            tools,
            "--tool-choice",
            "required",
            "--json",
            "weather?",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    let e: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(e["error"]["kind"], json!("invalid-output"));
    assert_eq!(e["error"]["partial"]["content"], json!("I'd rather not."));

    server.on(
        CHAT,
        replies::tool_calls(&[("t1", "get_weather", r#"{"city":"Paris"}"#)]),
    );
    let o = chat_cmd(
        &url,
        &["--tools", tools, "--tool-choice", "required", "weather?"],
    )
    .await;
    assert_eq!(
        stdout(&o),
        "[tool call t1] get_weather({\"city\":\"Paris\"})\n",
        "{}",
        stderr(&o)
    );
    let o = chat_cmd(
        &url,
        &[
            "--tools",
            tools,
            "--tool-choice",
            "required",
            "--json",
            "weather?",
        ],
    )
    .await;
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        r,
        json!({"tool_calls": [{"id": "t1", "name": "get_weather", "arguments": {"city": "Paris"}}]})
    );
    let o = chat_cmd(
        &url,
        &[
            "--tools",
            tools,
            "--tool-choice",
            "required",
            "--stream",
            "weather?",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--stream does not go with --tool-choice required"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_files_take_text_parts_and_refuse_what_cannot_be_sent() {
    let (server, url) = server().await;
    server.on(CHAT, replies::text("ok"));
    let dir = temp_dir("messages");
    let file = dir.join("conversation.json");
    let file_s = file.to_str().unwrap();
    std::fs::write(
        &file,
        r#"[{"role":"system","content":[{"type":"text","text":"Be brief."}]},
            {"role":"user","content":[{"type":"text","text":"Line one"},{"type":"text","text":"line two"}]}]"#,
    )
    .unwrap();
    let o = chat_cmd(&url, &["--messages", file_s]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        server.last().json()["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Line one\nline two"}])
    );
    let sent = server.requests_to(CHAT).len();
    for (text, needle) in [
        (
            r#"[{"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:,"}}]}]"#,
            "messages[0].content[1] is a `image_url` part; llm-core sends text only",
        ),
        (r#"[{"role":"usr","content":"hi"}]"#, "unknown role `usr`"),
        (
            r#"[{"role":"system","content":"Be brief."}]"#,
            "holds only system messages and no prompt was given",
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        let o = chat_cmd(&url, &["--messages", file_s]).await;
        assert_eq!(o.status.code(), Some(1));
        let e = stderr(&o);
        assert!(
            e.contains(needle) && e.contains("--messages"),
            "{needle}: {e}"
        );
        assert!(!e.contains("Some("), "{e}");
    }
    assert_eq!(server.requests_to(CHAT).len(), sent, "nothing was sent");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sampling_and_tool_flag_reaches_the_request() {
    let (server, url) = server().await;
    server.on(CHAT, replies::text("ok"));
    let tools = repo_root().join("examples/weather.tools.json");
    let o = chat_cmd(
        &url,
        &[
            "--temperature",
            "0",
            "--top-p",
            "0.9",
            "--top-k",
            "-1",
            "--min-p",
            "0.05",
            "--presence-penalty",
            "-0.5",
            "--frequency-penalty",
            "0.5",
            "--repetition-penalty",
            "1.1",
            "--seed",
            "-3",
            "--stop",
            "x",
            "--stop",
            "y",
            "--max-tokens",
            "7",
            "--tools",
            tools.to_str().unwrap(),
            "--tool-choice",
            "auto",
            "--no-parallel-tool-calls",
            "--timeout-ms",
            "30000",
            "hi",
        ],
    )
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let sent = server.last().json();
    for (field, value) in [
        ("temperature", json!(0.0)),
        ("top_p", json!(0.9)),
        ("top_k", json!(-1)),
        ("min_p", json!(0.05)),
        ("presence_penalty", json!(-0.5)),
        ("frequency_penalty", json!(0.5)),
        ("repetition_penalty", json!(1.1)),
        ("seed", json!(-3)),
        ("stop", json!(["x", "y"])),
        ("max_tokens", json!(7)),
        ("tool_choice", json!("auto")),
        ("parallel_tool_calls", json!(false)),
    ] {
        assert_eq!(sent[field], value, "{field}");
    }
    let o = chat_cmd(&url, &["--parallel-tool-calls", "hi"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(server.last().json()["parallel_tool_calls"], json!(true));

    // Backend kinds by every name, and vLLM's legacy guided decoding.
    server.on(CHAT, replies::text("yes"));
    for kind in ["llama.cpp", "llamacpp", "openai-compatible", "openai"] {
        let o = chat_cmd(&url, &["--backend", kind, "--choice", "yes,no", "hi"]).await;
        assert!(o.status.success(), "{kind}: {}", stderr(&o));
        assert_eq!(
            server.last().json()["grammar"],
            json!(r#"root ::= "yes" | "no""#),
            "{kind}"
        );
    }
    server.on(CHAT, replies::text("42"));
    let o = chat_cmd(
        &url,
        &[
            "--backend",
            "vllm",
            "--legacy-guided-decoding",
            "--regex",
            "[0-9]+",
            "hi",
        ],
    )
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let sent = server.last().json();
    assert_eq!(
        (sent["guided_regex"].clone(), sent.get("structured_outputs")),
        (json!("[0-9]+"), None)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mistakes_in_flags_are_told_as_flags() {
    let junk = std::env::temp_dir().join(format!("llm-core-junk-{}.wasm", std::process::id()));
    std::fs::write(&junk, [0x84u8, 0xa1, 0x26, 0x5c, 1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    let core_module = junk.with_extension("core.wasm");
    std::fs::write(&core_module, b"\0asm\x01\x00\x00\x00").unwrap();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["chat", "--timeout-ms", "0", "hi"],
            2,
            "'--timeout-ms <MS>'",
        ),
        (
            vec!["chat", "--temperature", "-1", "hi"],
            2,
            "'--temperature <T>': must be 0 or more",
        ),
        (
            vec!["chat", "--top-p", "2", "hi"],
            2,
            "'--top-p <P>': must be between 0 and 1",
        ),
        (
            vec!["chat", "--base-url", "ftp://gpu-box/v1", "hi"],
            1,
            "error (invalid-config): --base-url ftp://gpu-box/v1: base URL `ftp://gpu-box/v1` must start with http:// or https://",
        ),
        (
            vec![
                "models",
                "--base-url",
                "http://",
                "--base-url",
                "http://127.0.0.1:1/v1",
            ],
            1,
            "error (invalid-config): --base-url http://: ",
        ),
        (
            vec!["models", "--component", junk.to_str().unwrap()],
            1,
            "error (invalid-config): --component ",
        ),
        (
            vec!["models", "--component", core_module.to_str().unwrap()],
            1,
            "a core WebAssembly module, not a component",
        ),
    ];
    for (args, code, needle) in cases {
        let o = llm_core(&args).await;
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {e}");
        assert!(e.contains(needle), "{args:?}: {e}");
        assert!(
            !e.contains("backends[") && !e.contains("Some("),
            "{args:?}: {e}"
        );
        if code == 1 {
            assert_eq!(e.lines().count(), 1, "{args:?}: {e}");
            assert!(e.len() < 300, "{args:?}: {e}");
        }
    }
    // Two URLs on one server are two backends, not a name clash.
    let (server, url) = server().await;
    server.on(CHAT, replies::text("ok"));
    let o = llm_core(&[
        "chat",
        "--base-url",
        &url,
        "--base-url",
        &format!("{url}/"),
        "--model",
        "m",
        "hi",
    ])
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_file(&junk).ok();
    std::fs::remove_file(&core_module).ok();
}

/// Every flag of every command has help text, and README.md mentions it.
#[tokio::test(flavor = "multi_thread")]
async fn help_documents_every_flag_and_the_readme_names_them() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let mut seen = 0;
    for command in [
        &[][..],
        &["chat"][..],
        &["tokens"][..],
        &["embed"][..],
        &["models"][..],
        &["health"][..],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let o = llm_core(&args).await;
        assert!(o.status.success(), "{args:?}");
        let help = stdout(&o);
        let lines: Vec<&str> = help.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let indent = line.len() - line.trim_start().len();
            let entry = line.trim_start();
            if !entry.starts_with('-') || indent > 6 {
                continue;
            }
            // Help follows on the same line, or on the next, indented further.
            let spec_end = entry.find("  ").unwrap_or(entry.len());
            let same_line = entry[spec_end..].trim();
            let next = lines.get(i + 1).copied().unwrap_or("");
            let next_indent = next.len() - next.trim_start().len();
            assert!(
                !same_line.is_empty() || (next_indent > indent && !next.trim().is_empty()),
                "{args:?}: `{entry}` has no help text"
            );
            let long = entry[..spec_end]
                .split([',', ' '])
                .find(|w| w.starts_with("--"))
                .unwrap_or_else(|| panic!("{args:?}: no long flag in `{entry}`"));
            if long != "--help" && long != "--version" {
                assert!(readme.contains(long), "README.md does not mention {long}");
                seen += 1;
            }
        }
    }
    assert!(seen > 40, "only {seen} flags seen");
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llm-core-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
