//! Servers from flags and config files (our TOML, AIOS's `config.yaml`), the `models` and
//! `health` commands, and config mistakes told without their values.

use super::*;

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
