//! Ctrl-C during a streamed `chat`: the real binary gets a real SIGINT while the replay
//! server holds the next part back, writes a checkpoint (a file, or the last `--json` line)
//! and exits 130; `--resume` continues it on a new request, printing only the rest.

use super::{command, llm_core, server, stderr, stdout, temp_dir};
use crate::support::CHAT;
use replay_server::replies::{self, content_chunk, event};
use replay_server::{ReplayServer, Reply};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::{Instant, timeout_at};

/// Long enough that the signal, sent [`SETTLE`] after the first part is seen, always arrives
/// while the second is held back.
const BETWEEN_PARTS: Duration = Duration::from_millis(1500);

/// Time for the CLI to be waiting for the next part once it printed one: a signal that came
/// sooner could find it between two reads, and suspend at once (right too, but another path).
const SETTLE: Duration = Duration::from_millis(300);

/// A stream of three parts, `BETWEEN_PARTS` apart, that never finishes on its own.
fn slow_sentence(server: &ReplayServer) {
    server.on(
        CHAT,
        Reply::sse_raw([
            event(&content_chunk("The quick ")),
            event(&content_chunk("brown ")),
            event(&content_chunk("never shown")),
        ])
        .delayed(BETWEEN_PARTS),
    );
}

/// Reads `from` into `seen` until it holds `text`.
async fn read_until(from: &mut (impl AsyncRead + Unpin), seen: &mut Vec<u8>, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !String::from_utf8_lossy(seen).contains(text) {
        let mut buf = [0u8; 4096];
        let n = timeout_at(deadline, from.read(&mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no `{text}` in time; so far: {}",
                    String::from_utf8_lossy(seen)
                )
            })
            .unwrap();
        assert!(
            n > 0,
            "closed before `{text}`: {}",
            String::from_utf8_lossy(seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
}

fn interrupt(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Runs `llm-core ARGS...`, sends SIGINT once `text` is on stdout (and [`SETTLE`] has passed;
/// a second one once stderr says it is suspending, when `twice`), and returns the exit
/// status, stdout and stderr.
async fn interrupted(args: &[&str], text: &str, twice: bool) -> (Option<i32>, String, String) {
    let mut child = command(args)
        .await
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let (mut seen_out, mut seen_err) = (Vec::new(), Vec::new());
    read_until(&mut out, &mut seen_out, text).await;
    tokio::time::sleep(SETTLE).await;
    let pid = child.id().unwrap();
    interrupt(pid);
    if twice {
        read_until(&mut err, &mut seen_err, "suspending after the next token").await;
        interrupt(pid);
    }
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        out.read_to_end(&mut seen_out).await.unwrap();
        err.read_to_end(&mut seen_err).await.unwrap();
        child.wait().await.unwrap()
    })
    .await
    .expect("llm-core ends after Ctrl-C");
    (
        ended.code(),
        String::from_utf8_lossy(&seen_out).into_owned(),
        String::from_utf8_lossy(&seen_err).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_writes_a_checkpoint_that_resume_continues_with_the_same_request() {
    let (server, url) = server().await;
    slow_sentence(&server);
    let dir = temp_dir("suspend");
    let file = dir.join("turn.json");
    let file_s = file.to_str().unwrap();
    let image = dir.join("dot.png");
    std::fs::write(&image, [0x89, b'P', b'N', b'G']).unwrap();
    let first_args = [
        "chat",
        "--base-url",
        &url,
        "--backend",
        "vllm",
        "--model",
        "m",
        "--system",
        "Be brief.",
        "--temperature",
        "0.3",
        "--max-tokens",
        "50",
        "--priority",
        "2",
        "--session-id",
        "agent-7",
        "--cache-salt",
        "tenant-a",
        "--logprobs",
        "1",
        "--stop",
        "END",
        "--image",
        image.to_str().unwrap(),
        "--checkpoint",
        file_s,
        "Write",
        "a",
        "sentence",
    ];
    let (code, out, err) = interrupted(&first_args, "The quick ", false).await;
    assert_eq!(code, Some(130), "{err}");
    // What was shown is what the checkpoint holds: the part in flight arrived first.
    assert_eq!(out, "The quick brown \n");
    assert!(
        err.contains(&format!("checkpoint written to {file_s}")),
        "{err}"
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved["type"], json!("checkpoint"));
    assert_eq!(saved["generated"]["content"], json!("The quick brown "));
    assert_eq!(saved["request"]["priority"], json!(2));

    server.on(CHAT, replies::stream(&["fox ", "jumps."]));
    // The servers are not in the checkpoint: the same flags name them again.
    let resume = [
        "chat",
        "--base-url",
        &url,
        "--backend",
        "vllm",
        "--resume",
        file_s,
    ];
    let o = llm_core(&resume).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "fox jumps.\n", "only the continuation");
    let sent: Vec<Value> = server.requests_to(CHAT).iter().map(|r| r.json()).collect();
    let (first, resumed) = (&sent[0], &sent[1]);
    // The resumed request is the first one, continued: every field the flags set is kept.
    for key in [
        "model",
        "temperature",
        "stop",
        "priority",
        "cache_salt",
        "logprobs",
        "top_logprobs",
    ] {
        assert_eq!(resumed[key], first[key], "{key}");
        assert!(!first[key].is_null(), "{key} was sent");
    }
    let messages = resumed["messages"].as_array().unwrap();
    assert_eq!(&messages[..2], &first["messages"].as_array().unwrap()[..]);
    assert_eq!(
        messages[2],
        json!({"role": "assistant", "content": "The quick brown "})
    );
    assert_eq!(resumed["continue_final_message"], json!(true));
    assert_eq!(
        server.requests_to(CHAT)[1].header("x-session-id"),
        Some("agent-7")
    );

    // As one record, the whole answer; --priority replaces the checkpoint's.
    let mut as_record = resume.to_vec();
    as_record.extend(["--json", "--priority", "9"]);
    let o = llm_core(&as_record).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let record: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(record["content"], json!("The quick brown fox jumps."));
    assert_eq!(record["earlier_backends"].as_array().map(Vec::len), Some(1));
    assert_eq!(server.last().json()["priority"], json!(9));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn with_json_the_checkpoint_is_the_last_line_and_resumes_from_a_file() {
    let (server, url) = server().await;
    slow_sentence(&server);
    let args = [
        "chat",
        "--base-url",
        &url,
        "--model",
        "m",
        "--stream",
        "--json",
        "Write",
    ];
    let (code, out, err) = interrupted(&args, "The quick ", false).await;
    assert_eq!(code, Some(130), "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0], json!({"type": "content", "text": "The quick "}));
    assert_eq!(lines[1], json!({"type": "content", "text": "brown "}));
    let last = lines.last().unwrap();
    assert_eq!(last["type"], json!("checkpoint"), "{out}");
    assert_eq!(last["generated"]["content"], json!("The quick brown "));

    let dir = temp_dir("suspend-json");
    let file = dir.join("last-line.json");
    std::fs::write(&file, out.lines().last().unwrap()).unwrap();
    server.on(CHAT, replies::stream(&["fox."]));
    let o = llm_core(&[
        "chat",
        "--base-url",
        &url,
        "--resume",
        file.to_str().unwrap(),
        "--stream",
        "--json",
    ])
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0], json!({"type": "content", "text": "fox."}));
    assert_eq!(
        lines[1]["response"]["content"],
        json!("The quick brown fox.")
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_ctrl_c_quits_without_waiting_or_a_checkpoint() {
    let (server, url) = server().await;
    server.on(
        CHAT,
        Reply::sse_raw([
            event(&content_chunk("Slow ")),
            event(&content_chunk("never")),
        ])
        .delayed(Duration::from_secs(60)),
    );
    let dir = temp_dir("suspend-twice");
    let file = dir.join("never.json");
    let args = [
        "chat",
        "--base-url",
        &url,
        "--model",
        "m",
        "--checkpoint",
        file.to_str().unwrap(),
        "go",
    ];
    // `interrupted` allows 30 s to end, the server holds the next part back for 60.
    let (code, out, err) = interrupted(&args, "Slow ", true).await;
    assert_eq!(code, Some(130), "{err}");
    assert_eq!(out, "Slow ");
    assert!(!file.exists() && !dir.join("never.json.partial").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_refuses_request_flags_and_files_that_are_not_checkpoints() {
    let (server, url) = server().await;
    server.on(CHAT, replies::text("unused"));
    let dir = temp_dir("resume-bad");
    let file = dir.join("not-a-checkpoint.json");
    std::fs::write(&file, r#"{"type":"done","response":{}}"#).unwrap();
    let file_s = file.to_str().unwrap();
    let o = llm_core(&[
        "chat",
        "--base-url",
        &url,
        "--resume",
        file_s,
        "--temperature",
        "1",
    ])
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--temperature"), "{}", stderr(&o));
    let o = llm_core(&["chat", "--base-url", &url, "--resume", file_s]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("--resume {file_s}: not a checkpoint of llm-core")),
        "{}",
        stderr(&o)
    );
    let o = llm_core(&[
        "chat",
        "--resume",
        &dir.join("missing").display().to_string(),
    ])
    .await;
    assert!(stderr(&o).contains("cannot read it"), "{}", stderr(&o));
    // A checkpoint that could not be written is refused before the answer starts.
    let nowhere = "/no/such/dir/turn.json";
    let o = llm_core(&["chat", "--base-url", &url, "--checkpoint", nowhere, "hi"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!(
            "--checkpoint {nowhere}: not a file in an existing directory"
        )),
        "{}",
        stderr(&o)
    );
    assert!(server.requests_to(CHAT).is_empty());
    // --checkpoint streams, so it does not go with --no-stream.
    let o = llm_core(&["chat", "--checkpoint", file_s, "--no-stream", "hi"]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(Path::new(file_s).exists());
    std::fs::remove_dir_all(&dir).ok();
}
