//! Retries and backoff: what is retried, how long it waits, when it gives up.

use super::*;

#[test]
fn a_server_error_is_retried_after_a_jittered_backoff() {
    let io = FakeIo::default();
    io.push(&chat_url(A), server_error())
        .push(&chat_url(A), Reply::text("ok"));
    let c = client(&io, &[A], |_| {});
    let r = c.chat(ask()).unwrap();
    assert_eq!((r.content.as_deref(), r.attempts), (Some("ok"), 2));
    let slept = io.slept_ms();
    assert_eq!(slept.len(), 1);
    assert!(
        (75..=100).contains(&slept[0]),
        "backoff 100 ms minus up to 25%: {slept:?}"
    );
}

#[test]
fn client_errors_are_final_and_keep_the_servers_body() {
    let io = FakeIo::default();
    io.on(
        &chat_url(A),
        Reply::status(400, r#"{"error":{"message":"bad temperature"}}"#),
    );
    let e = client(&io, &[A], |_| {}).chat(ask()).unwrap_err();
    assert_eq!(
        (e.code, e.status, e.attempts),
        (ErrorCode::HttpStatus, Some(400), 1)
    );
    assert!(e.message.contains("bad temperature"), "{}", e.message);
    assert_eq!(e.backend.as_deref(), Some("a:8000"));
    assert!(io.slept_ms().is_empty());
}

#[test]
fn retry_after_is_waited_for_and_a_longer_wish_ends_the_call() {
    let io = FakeIo::default();
    io.push(
        &chat_url(A),
        Reply::status(429, "{}").header("retry-after", "2"),
    )
    .push(&chat_url(A), Reply::text("ok"));
    client(&io, &[A], |_| {}).chat(ask()).unwrap();
    assert_eq!(io.slept_ms(), [2000]);

    let io = FakeIo::default();
    io.on(
        &chat_url(A),
        Reply::status(429, "{}").header("retry-after-ms", "90000"),
    );
    let e = client(&io, &[A], |_| {}).chat(ask()).unwrap_err();
    assert_eq!(e.code, ErrorCode::RateLimited(Some(90_000)));
    assert!(e.message.contains("max-retry-after-ms"), "{}", e.message);
    assert_eq!(io.sent().len(), 1);
}

#[test]
fn x_should_retry_overrides_the_status() {
    let io = FakeIo::default();
    io.on(
        &chat_url(A),
        server_error().header("x-should-retry", "false"),
    );
    let e = client(&io, &[A], |_| {}).chat(ask()).unwrap_err();
    assert_eq!(e.attempts, 1);
}

#[test]
fn attempts_run_out_then_the_last_error_comes_back() {
    let io = FakeIo::default();
    io.on(&chat_url(A), server_error());
    let e = client(&io, &[A], |c| c.retry.max_attempts = Some(4))
        .chat(ask())
        .unwrap_err();
    assert_eq!((e.status, e.attempts), (Some(500), 4));
    assert_eq!(io.slept_ms().len(), 3);
}

#[test]
fn the_deadline_ends_retries_with_a_total_timeout_naming_the_last_error() {
    let io = FakeIo::default();
    io.on(&chat_url(A), server_error());
    let mut req = ask();
    req.timeout_ms = Some(250);
    let e = client(&io, &[A], |c| {
        c.retry.max_attempts = Some(10);
        c.retry.initial_backoff_ms = Some(200);
    })
    .chat(req)
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Timeout(TimeoutKind::Total));
    assert!(
        e.message.contains("gave up after 2 attempts"),
        "{}",
        e.message
    );
    assert!(e.message.contains("boom"), "{}", e.message);
}
