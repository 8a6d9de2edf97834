//! Flags: required tool calls, `--messages` files, every sampling and tool flag reaching the
//! request, mistakes told as flags, and help for every flag.

use super::*;

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
