//! Chat as a user runs it: the answer or the record, failures, tools and output
//! constraints, streamed tokens with a summary or JSON lines.

use super::*;

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
    // The wait for the server counts: the stream is handed over only once its first bytes
    // are in (it used to read "0 ms to first token" whatever the server took).
    server.push(
        CHAT,
        Reply::sse(&refs).after(std::time::Duration::from_millis(400)),
    );
    let o = chat_cmd(&url, &["--stream", "hi"]).await;
    let summary = stderr(&o);
    let ttft: f64 = summary
        .split(" ms to first token")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a first-token time in {summary}"));
    assert!(ttft >= 400.0, "{summary}");

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
