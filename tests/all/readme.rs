//! README.md works as written: its Rust blocks are the example files (compiled with the
//! workspace, and run here against the replay server), and every `llm-core` command in its
//! shell blocks runs — against replay servers standing in for the addresses it names, with
//! the files it names (the TOML block of the README itself as `llm-core.toml`) — and prints
//! what the README shows after it.

use crate::cli::{cargo_build, exe, server, temp_dir};
use crate::support::{CHAT, repo_root};
use replay_server::replies::{self, MODELS};
use replay_server::{ReplayServer, Reply};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;

fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).expect("README.md")
}

/// The fenced blocks of one language, in order.
fn blocks(text: &str, lang: &str) -> Vec<String> {
    let open = format!("```{lang}\n");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let end = body.find("```\n").expect("a closed block");
        out.push(body[..end].to_string());
        rest = &body[end..];
    }
    out
}

#[test]
fn the_rust_blocks_are_the_example_files() {
    let dir = repo_root().join("examples/rust");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    let shown = blocks(&readme(), "rust");
    assert_eq!(
        shown.len(),
        files.len(),
        "one README block per example file"
    );
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            shown.contains(&text),
            "README.md does not show {} as it is",
            file.display()
        );
        // Built by `cargo build --workspace --all-targets`: an example of the CLI package.
        let manifest = std::fs::read_to_string(repo_root().join("cli/Cargo.toml")).unwrap();
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            manifest.contains(&format!("path = \"../examples/rust/{name}\"")),
            "cli/Cargo.toml does not build {name}"
        );
    }
    // What a program needs in its Cargo.toml: the host package as it is named, tokio with
    // the features `#[tokio::main]` uses, futures for streams.
    let deps = blocks(&readme(), "toml")
        .into_iter()
        .find(|b| b.contains("[dependencies]"))
        .expect("a [dependencies] block");
    let host = std::fs::read_to_string(repo_root().join("host/Cargo.toml")).unwrap();
    assert!(
        host.contains("name = \"aios-llm-core-host\"") && host.contains("name = \"llm_core_host\"")
    );
    assert!(
        deps.contains("aios-llm-core-host = { path = \"") && deps.contains("/host\" }"),
        "{deps}"
    );
    assert!(
        deps.contains("\"rt-multi-thread\"") && deps.contains("\"macros\""),
        "{deps}"
    );
    assert!(deps.contains("futures = "), "{deps}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_examples_run_against_a_server() {
    let examples = tokio::task::block_in_place(|| cargo_build("--examples"));
    let (server, url) = server().await;
    server.on(MODELS, replies::models(&["m"]));
    server.on(CHAT, replies::text("Hi there!"));
    let run = |name: &str| {
        let exe = examples
            .get(name)
            .unwrap_or_else(|| panic!("no example {name}"))
            .clone();
        let url = url.clone();
        async move {
            tokio::process::Command::new(exe)
                .env("LLM_CORE_BASE_URL", url)
                .stdin(Stdio::null())
                .output()
                .await
                .unwrap()
        }
    };
    let o = run("chat").await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "Hi there!\n");
    server.on(CHAT, replies::stream(&["One, two, ", "three, four, five."]));
    let o = run("stream").await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "One, two, three, four, five.\nNone\n",
        "the text, then the usage (this stream reports none)"
    );
    let sent = server.requests_to(CHAT);
    assert_eq!(sent[0].json()["messages"][0]["content"], json!("Say hi"));
    assert_eq!(sent[1].json()["stream"], json!(true));
}

/// One `llm-core` command of the README, and the output lines shown after it.
struct Example {
    line: String,
    shown: Vec<String>,
}

fn cli_examples(text: &str) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    for block in blocks(text, "sh") {
        let mut current: Option<Example> = None;
        for line in block.lines() {
            if let Some(shown) = line.strip_prefix("# ") {
                if let Some(e) = current.as_mut() {
                    e.shown.push(shown.to_string());
                }
                continue;
            }
            out.extend(current.take());
            if line.starts_with("llm-core ") || line.contains("| llm-core ") {
                current = Some(Example {
                    line: line.to_string(),
                    shown: Vec::new(),
                });
            }
        }
        out.extend(current);
    }
    out
}

/// Every `http://...` address of a command, pointed at `url`.
fn pointed_at(line: &str, url: &str) -> String {
    line.split(' ')
        .map(|w| if w.starts_with("http://") { url } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The server's answer for a command: what the README shows after it.
fn reply_for(line: &str) -> Reply {
    if line.contains("--tools") {
        replies::tool_calls(&[("chatcmpl-tool-5a1b", "get_weather", r#"{"city":"Paris"}"#)])
    } else if line.contains("--json-schema") {
        replies::text(r#"{"city": "Austin", "country": "United States"}"#)
    } else if line.contains("--regex") {
        replies::text("4")
    } else if line.contains("--choice") {
        replies::text("yes")
    } else if line.contains("--stream") {
        replies::stream(&["One, two, ", "three, four, five."])
    } else {
        replies::text("Hi!")
    }
}

/// A working directory with what the README's commands name: `examples/`,
/// `conversation.json`, a checkpoint `turn.json`, `llm-core.toml` (the README's own TOML block, its gpu-a at `url`
/// and its gpu-b at a closed port, as the README's health table shows it), and a home with
/// `~/AIOS/aios/config/config.yaml`.
fn workdir(url: &str) -> PathBuf {
    let dir = temp_dir("readme");
    let home = dir.join("home");
    std::fs::create_dir_all(home.join("AIOS/aios/config")).unwrap();
    std::fs::write(
        home.join("AIOS/aios/config/config.yaml"),
        format!(
            "llms:\n  models:\n    - name: \"Qwen/Qwen3-8B\"\n      backend: \"vllm\"\n      hostname: \"{url}\"\n    - name: \"gpt-4o-mini\"\n      backend: \"openai\"\n  router:\n    strategy: \"sequential\"\n"
        ),
    )
    .unwrap();
    let examples = dir.join("examples");
    if !examples.exists() {
        std::os::unix::fs::symlink(repo_root().join("examples"), &examples).unwrap();
    }
    std::fs::write(
        dir.join("conversation.json"),
        r#"[{"role": "system", "content": "Be brief."}, {"role": "user", "content": [{"type": "text", "text": "Say hi"}]}]"#,
    )
    .unwrap();
    // What `--checkpoint turn.json` writes when Ctrl-C suspends a stream (the least of it).
    std::fs::write(
        dir.join("turn.json"),
        r#"{"type":"checkpoint","version":1,"request":{"messages":[{"role":"user","content":"Count from one to ten"}]},"generated":{"content":"One, two, three, ","reasoning":"","usage":null,"attempts":1}}"#,
    )
    .unwrap();
    let toml = blocks(&readme(), "toml")
        .into_iter()
        .find(|b| b.contains("[[backends]]"))
        .expect("the README's TOML example");
    assert!(toml.contains("http://gpu-a:8000/v1") && toml.contains("http://gpu-b:30000/v1"));
    let toml = toml
        .replace("http://gpu-a:8000/v1", url)
        .replace("http://gpu-b:30000/v1", "http://127.0.0.1:1/v1");
    std::fs::write(dir.join("llm-core.toml"), toml).unwrap();
    dir
}

/// Where the compiled-component cache is for this user (kept when HOME moves).
fn compiled_cache_root() -> Option<PathBuf> {
    std::env::var_os("AIOS_LLM_CORE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|x| Path::new(&x).join("aios-llm-core")))
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/aios-llm-core")))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_cli_command_runs_as_written() {
    let exe = exe().await;
    let (server, url) = server().await;
    serve_everything(&server);
    let dir = workdir(&url);
    let path = format!(
        "{}:{}",
        exe.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let examples = cli_examples(&readme());
    assert!(examples.len() >= 15, "{} commands found", examples.len());
    for example in &examples {
        let line = pointed_at(&example.line, &url);
        server.on(CHAT, reply_for(&line));
        let chats_before = server.requests_to(CHAT).len();
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(&line)
            .current_dir(&dir)
            .env("PATH", &path)
            .env("HOME", dir.join("home"))
            .env("LLM_CORE_BASE_URL", &url)
            .env("GPU_B_KEY", "gpu-b-test-key")
            .env_remove("LLM_CORE_API_KEY")
            .env_remove("LLM_CORE_COMPONENT")
            .env_remove("XDG_CACHE_HOME")
            .stdin(Stdio::null());
        if let Some(cache) = compiled_cache_root() {
            cmd.env("AIOS_LLM_CORE_CACHE", cache);
        }
        let o = cmd.output().await.unwrap();
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        let config_with_gpu_b_down = line.contains("--config llm-core.toml")
            && (line.contains(" health ") || line.contains(" models "));
        let expected = if config_with_gpu_b_down { 1 } else { 0 };
        assert_eq!(
            o.status.code(),
            Some(expected),
            "{line}\nstdout: {out}\nstderr: {err}"
        );
        assert!(!out.trim().is_empty(), "{line}: no output");
        if line.contains("llm-core chat") {
            assert!(
                server.requests_to(CHAT).len() > chats_before,
                "{line}: nothing sent"
            );
        }
        check_shown(example, &line, &out, &err);
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The output lines the README shows after a command are what it printed.
fn check_shown(example: &Example, line: &str, out: &str, err: &str) {
    let Some(first) = example.shown.first() else {
        return;
    };
    if first.starts_with("backend ") {
        // The health table: gpu-a up, gpu-b down, with why.
        for shown in &example.shown {
            let name = shown.split_whitespace().next().unwrap();
            if name == "gpu-a" || name == "gpu-b" {
                let row = out
                    .lines()
                    .find(|l| l.starts_with(name))
                    .unwrap_or_else(|| panic!("{line}: no row {name} in\n{out}"));
                let status = shown.split_whitespace().nth(1).unwrap();
                assert_eq!(row.split_whitespace().nth(1), Some(status), "{line}: {row}");
            }
        }
        assert!(
            out.contains("  connection: cannot connect to http://127.0.0.1:1"),
            "{out}"
        );
        return;
    }
    let printed = out.lines().next().unwrap_or_default();
    match serde_json::from_str::<Value>(first) {
        Ok(value) => assert_eq!(
            serde_json::from_str::<Value>(printed).ok(),
            Some(value),
            "{line}: printed {printed}"
        ),
        Err(_) => assert_eq!(printed, first, "{line}"),
    }
    if let Some(summary) = example.shown.get(1).filter(|s| s.starts_with("— ")) {
        // The stream summary: the same parts, other numbers.
        for part in [
            "ms to first token",
            "tokens/s",
            "finish: stop",
            "backend 127.0.0.1:",
        ] {
            assert!(
                summary.contains(part.split(':').next().unwrap()) && err.contains(part),
                "{line}: {part} in {err}"
            );
        }
    }
}

/// Models, health, metrics, token counts and embeddings for every command; chat answers are
/// set per command.
fn serve_everything(server: &ReplayServer) {
    server.on(MODELS, replies::models(&["Qwen/Qwen3-8B"]));
    server.on(
        "/tokenize",
        Reply::json(r#"{"count":17,"max_model_len":32768,"tokens":[],"token_strs":null}"#),
    );
    server.on(
        "/v1/embeddings",
        Reply::json(
            r#"{"object":"list","data":[{"index":0,"embedding":[0.5,-1]},{"index":1,"embedding":[1,0]}],"model":"intfloat/e5-small-v2","usage":{"prompt_tokens":6,"total_tokens":6}}"#,
        ),
    );
    server.on("/health", Reply::text(200, ""));
    server.on(
        "/metrics",
        Reply::text(
            200,
            "vllm:num_requests_running 1\nvllm:num_requests_waiting 4\n",
        ),
    );
}
