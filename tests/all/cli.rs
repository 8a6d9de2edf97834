//! The `llm-core` CLI as a user runs it: a subprocess against the replay server.

use crate::support::{CHAT, repo_root};
use replay_server::replies::{self, chunk, content_chunk};
use replay_server::{ReplayServer, Reply};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

/// The binary under test.
const CLI_BIN: &str = "llm-core";

/// The `llm-core` binary, up to date. `cargo test` builds the binaries of a package only for
/// that package's own tests, so this asks cargo (once per run) for the workspace's binaries,
/// built with this test binary's profile into the same target directory: a no-op when they
/// are current. `--workspace` keeps the feature set of `cargo test --workspace`, so no
/// dependency is compiled a second time. `LLM_CORE_BIN=/path/to/llm-core` uses that binary.
fn llm_core_exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        if let Some(path) = std::env::var_os("LLM_CORE_BIN") {
            return path.into();
        }
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
            .args(["build", "--workspace", "--bins"])
            .args([
                "--profile",
                profile,
                "--message-format",
                "json-render-diagnostics",
            ])
            .arg("--target-dir")
            .arg(target)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("cargo runs");
        assert!(out.status.success(), "cargo build of {CLI_BIN} failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == CLI_BIN)
            .and_then(|m| m["executable"].as_str().map(PathBuf::from))
            .unwrap_or_else(|| panic!("cargo reported no {CLI_BIN} executable"))
    })
}

/// Runs `llm-core ARGS...` with no stdin and none of its environment variables set.
pub async fn llm_core(args: &[&str]) -> Output {
    let exe = tokio::task::block_in_place(llm_core_exe);
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(args)
        .env_remove("LLM_CORE_BASE_URL")
        .env_remove("LLM_CORE_API_KEY")
        .stdin(std::process::Stdio::null());
    cmd.output().await.expect("llm-core runs")
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

async fn server() -> (ReplayServer, String) {
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
