//! What a person at a terminal sees: the max-tokens note, the waiting line, the prompt
//! announcement, escaped server text, and a reader that stops early.

use super::*;

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
