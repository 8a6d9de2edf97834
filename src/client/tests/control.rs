//! Generation control: request ids, priority, suspend/resume, mid-stream failover, cancel.

use super::*;

#[test]
fn every_call_carries_a_request_id_and_priority_in_its_familys_fields() {
    let io = FakeIo::default();
    io.on(&chat_url(A), Reply::text("ok"));
    let sglang = client(&io, &[A], |c| c.backends[0].kind = BackendKind::Sglang);
    let mut req = ask();
    req.priority = Some(3);
    req.request_id = Some("agent-7-turn-1".into());
    sglang.chat(req.clone()).unwrap();
    let sent = io.sent().pop().unwrap();
    let body = sent.body.unwrap();
    assert_eq!(
        (body["rid"].as_str(), body["priority"].as_i64()),
        (Some("agent-7-turn-1"), Some(-3))
    );
    assert_eq!(sent.request_id.as_deref(), Some("agent-7-turn-1"));

    let vllm = client(&io, &[A], |_| {});
    vllm.chat(req).unwrap();
    let body = io.sent().pop().unwrap().body.unwrap();
    assert_eq!(
        body["priority"], 3,
        "vLLM runs lower values first, as we do"
    );
    vllm.chat(ask()).unwrap();
    let sent = io.sent().pop().unwrap();
    let id = sent.body.unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(id.starts_with("llmcore-") && id.len() == 24, "{id}");
    assert_eq!(sent.request_id, Some(id));
    let mut bad = ask();
    bad.request_id = Some("a b\r\nX: y".into());
    assert_eq!(vllm.chat(bad).unwrap_err().code, ErrorCode::InvalidRequest);
}

#[test]
fn a_server_that_refuses_priority_gets_the_request_again_without_it_and_is_remembered() {
    let io = FakeIo::default();
    io.push(
        &chat_url(A),
        Reply::status(
            400,
            r#"{"object":"error","message":"Got priority 3 but Priority scheduling is not enabled.","code":400}"#,
        ),
    )
    .on(&chat_url(A), Reply::text("ok"));
    let c = client(&io, &[A], |_| {});
    let mut req = ask();
    req.priority = Some(3);
    let r = c.chat(req.clone()).unwrap();
    assert_eq!(r.attempts, 1, "the same attempt, no backoff");
    c.chat(req).unwrap();
    let bodies: Vec<_> = io.sent().into_iter().map(|s| s.body.unwrap()).collect();
    assert_eq!(bodies.len(), 3);
    assert_eq!(bodies[0]["priority"], 3);
    assert!(bodies[1].get("priority").is_none() && bodies[2].get("priority").is_none());
    assert!(io.slept_ms().is_empty());
}

#[test]
fn a_suspended_stream_resumes_where_its_events_stopped() {
    let io = FakeIo::default();
    io.push(
        &chat_url(A),
        Reply::sse(vec![delta("one "), delta("two "), finish(), event(DONE)]),
    )
    .push(
        &chat_url(A),
        Reply::sse(vec![delta("two "), delta("three"), finish(), event(DONE)]),
    );
    let c = client(&io, &[A], |_| {});
    let mut s = c.chat_stream(ask()).unwrap();
    assert_eq!(contents(&s.next(Wait::Block).unwrap()), "one ");
    let checkpoint = s.suspend();
    assert!(
        s.next(Wait::Block).unwrap().is_empty(),
        "a suspended stream has ended"
    );
    assert_eq!(checkpoint.generated.content, "one ");
    assert_eq!(checkpoint.generated.backends, vec!["a:8000".to_string()]);
    assert!(checkpoint.request.continue_from.is_none());

    let mut resumed = c.resume(checkpoint).unwrap();
    let (text, done) = drain(&mut resumed);
    assert_eq!(text, "two three", "only the continuation streams");
    let done = done.unwrap();
    assert_eq!(done.content.as_deref(), Some("one two three"));
    assert_eq!(
        (done.earlier_backends.clone(), done.attempts),
        (vec!["a:8000".to_string()], 2)
    );
    let body = io.sent().pop().unwrap().body.unwrap();
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.last().unwrap()["role"], "assistant");
    assert_eq!(messages.last().unwrap()["content"], "one ");
    assert_eq!(
        (
            &body["continue_final_message"],
            &body["add_generation_prompt"]
        ),
        (&serde_json::json!(true), &serde_json::json!(false))
    );
}

#[test]
fn a_backend_dying_mid_stream_is_continued_on_another_without_a_lost_or_repeated_token() {
    let io = FakeIo::default();
    io.on(
        &chat_url(A),
        Reply::sse(vec![delta("Hel"), Step::Fail(refused())]),
    )
    .on(
        &chat_url(B),
        Reply::sse(vec![delta("lo"), finish(), event(DONE)]),
    );
    let c = client(&io, &[A, B], |c| {
        c.routing = Some(RoutingStrategy::Priority)
    });
    let mut s = c.chat_stream(ask()).unwrap();
    let (text, done) = drain(&mut s);
    let done = done.unwrap();
    assert_eq!(text, "Hello");
    assert_eq!(done.content.as_deref(), Some("Hello"));
    assert_eq!(
        (done.backend.as_str(), done.earlier_backends.clone()),
        ("b:8000", vec!["a:8000".to_string()])
    );
    let body = io.sent().pop().unwrap().body.unwrap();
    assert_eq!(
        body["messages"].as_array().unwrap().last().unwrap()["content"],
        "Hel"
    );

    // Switched off: the failure comes back with the partial.
    let c = client(&io, &[A, B], |c| {
        c.routing = Some(RoutingStrategy::Priority);
        c.retry.resume_streams = Some(false);
    });
    let mut s = c.chat_stream(ask()).unwrap();
    let (text, e) = drain(&mut s);
    let e = e.unwrap_err();
    assert_eq!((text.as_str(), e.code), ("Hel", ErrorCode::Connection));
    assert_eq!(e.partial.unwrap().content.as_deref(), Some("Hel"));
}

#[test]
fn dropping_an_sglang_stream_aborts_it_by_rid() {
    let io = FakeIo::default();
    io.on(
        &chat_url(A),
        Reply::sse(vec![
            delta("a"),
            Step::Silence(60_000),
            finish(),
            event(DONE),
        ]),
    )
    .on(&format!("{A}/abort_request"), Reply::json(""));
    let c = client(&io, &[A], |c| c.backends[0].kind = BackendKind::Sglang);
    let mut s = c.chat_stream(ask()).unwrap();
    assert_eq!(contents(&s.next(Wait::Block).unwrap()), "a");
    drop(s);
    let sent = io.sent();
    let abort = sent.last().unwrap();
    assert_eq!(abort.url, format!("{A}/abort_request"));
    let rid = sent[0].body.as_ref().unwrap()["rid"].clone();
    assert_eq!(abort.body.as_ref().unwrap()["rid"], rid);

    // A finished stream is not aborted.
    io.on(
        &chat_url(A),
        Reply::sse(vec![delta("a"), finish(), event(DONE)]),
    );
    let mut s = c.chat_stream(ask()).unwrap();
    drain(&mut s).1.unwrap();
    let before = io.sent().len();
    drop(s);
    assert_eq!(io.sent().len(), before);
}

#[test]
fn a_stream_cut_cleanly_after_some_events_is_continued_elsewhere() {
    let io = FakeIo::default();
    io.on(
        &chat_url(A),
        Reply::sse(vec![delta("One, "), delta("two, ")]),
    )
    .on(
        &chat_url(B),
        Reply::sse(vec![delta("three."), finish(), event(DONE)]),
    );
    let c = client(&io, &[A, B], |c| {
        c.routing = Some(RoutingStrategy::Priority)
    });
    let mut s = c.chat_stream(ask()).unwrap();
    let (text, done) = drain(&mut s);
    assert_eq!(text, "One, two, three.");
    assert_eq!(done.unwrap().content.as_deref(), Some("One, two, three."));
}
