//! The stream state machine: deltas, done, failures before and after the first event.

use super::*;

#[test]
fn a_stream_yields_deltas_then_done_then_nothing() {
    let io = FakeIo::default();
    io.on(
        &chat_url(A),
        Reply::sse(vec![delta("Hel"), delta("lo"), finish(), event(DONE)]),
    );
    let mut s = client(&io, &[A], |_| {}).chat_stream(ask()).unwrap();
    let first = s.next(Wait::Block).unwrap();
    assert_eq!(contents(&first), "Hel");
    let mut rest = s.next(Wait::Block).unwrap();
    rest.extend(s.next(Wait::Block).unwrap());
    assert_eq!(contents(&rest), "lo");
    assert!(
        matches!(rest.last(), Some(StreamEvent::Done(r)) if r.content.as_deref() == Some("Hello"))
    );
    assert!(s.next(Wait::Block).unwrap().is_empty());
    assert!(s.next(Wait::Poll).unwrap().is_empty());
    assert_eq!(io.sent()[0].body.as_ref().unwrap()["stream"], true);
}

#[test]
fn a_failure_before_the_first_event_is_retried_on_another_backend() {
    let io = FakeIo::default();
    io.on(
        &chat_url(A),
        Reply::sse(vec![event(
            r#"{"error":{"message":"overloaded","code":503}}"#,
        )]),
    )
    .on(
        &chat_url(B),
        Reply::sse(vec![delta("b"), finish(), event(DONE)]),
    );
    let mut s = client(&io, &[A, B], |_| {}).chat_stream(ask()).unwrap();
    let mut events = s.next(Wait::Block).unwrap();
    events.extend(s.next(Wait::Block).unwrap());
    assert!(
        matches!(events.last(), Some(StreamEvent::Done(r)) if r.backend == "b:8000" && r.attempts == 2)
    );
}

#[test]
fn a_cut_after_the_first_event_fails_once_with_the_partial_answer() {
    let io = FakeIo::default();
    io.on(
        &chat_url(A),
        Reply::sse(vec![
            delta("part"),
            delta("ial"),
            Step::Fail(Box::new(Error::new(
                ErrorCode::Connection,
                "closed mid-answer",
            ))),
        ]),
    );
    let mut s = client(&io, &[A], |_| {}).chat_stream(ask()).unwrap();
    assert_eq!(contents(&s.next(Wait::Block).unwrap()), "part");
    assert_eq!(contents(&s.next(Wait::Block).unwrap()), "ial");
    let e = s.next(Wait::Block).unwrap_err();
    assert_eq!((e.code.clone(), e.attempts), (ErrorCode::Connection, 1));
    assert_eq!(e.partial.unwrap().content.as_deref(), Some("partial"));
    assert!(s.next(Wait::Block).unwrap().is_empty(), "delivered once");
}

#[test]
fn polling_waits_for_nothing_and_meets_the_deadline_with_the_partial() {
    let io = FakeIo::default();
    io.on(
        &chat_url(A),
        Reply::sse(vec![delta("a"), Step::Silence(60_000), delta("b")]),
    );
    let mut req = ask();
    req.timeout_ms = Some(1_000);
    let mut s = client(&io, &[A], |_| {}).chat_stream(req).unwrap();
    assert_eq!(contents(&s.next(Wait::Poll).unwrap()), "a");
    assert!(
        s.next(Wait::Poll).unwrap().is_empty(),
        "nothing yet, no waiting"
    );
    assert!(!s.ready_now());
    io.advance_ms(1_000);
    assert!(
        s.ready_now(),
        "past the deadline, next has the timeout to give"
    );
    let e = s.next(Wait::Poll).unwrap_err();
    assert_eq!(e.code, ErrorCode::Timeout(TimeoutKind::Total));
    assert_eq!(e.partial.unwrap().content.as_deref(), Some("a"));
}

#[test]
fn a_json_answer_to_a_stream_request_is_replayed_as_events() {
    let io = FakeIo::default();
    io.on(&chat_url(A), Reply::text("whole"));
    let mut s = client(&io, &[A], |_| {}).chat_stream(ask()).unwrap();
    let events = s.next(Wait::Block).unwrap();
    assert_eq!(contents(&events), "whole");
    assert!(matches!(events.last(), Some(StreamEvent::Done(_))));
}

#[test]
fn a_stream_past_the_response_cap_ends_with_limit_exceeded() {
    let io = FakeIo::default();
    let mut steps = vec![delta("x")];
    steps.extend((0..100).map(|_| delta(&"y".repeat(100))));
    io.on(&chat_url(A), Reply::sse(steps));
    let mut s = client(&io, &[A], |c| c.max_response_bytes = Some(2048))
        .chat_stream(ask())
        .unwrap();
    let mut text = String::new();
    let e = loop {
        match s.next(Wait::Block) {
            Ok(events) => text.push_str(&contents(&events)),
            Err(e) => break e,
        }
    };
    assert_eq!(e.code, ErrorCode::LimitExceeded);
    assert_eq!(e.partial.unwrap().content.unwrap(), text);
}
