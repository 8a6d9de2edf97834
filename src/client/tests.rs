//! The orchestrator's decisions, natively: retries and backoff, failover and cooldowns,
//! routing across calls, discovery and its cache, probes, and the stream state machine —
//! each driven through the public call paths over a scripted transport and a fake clock.

use super::Client;
use super::fake::{FakeIo, Reply, Step, delta, event, refused};
use crate::io::{Method, Wait};
use crate::testing::{backend_config, client_config};
use crate::types::*;

const A: &str = "http://a:8000";
const B: &str = "http://b:8000";
const DONE: &str = "[DONE]";

fn chat_url(origin: &str) -> String {
    format!("{origin}/v1/chat/completions")
}

/// A client over these origins (each serving model `m`), with a fixed routing seed and
/// fast, deterministic retries.
fn client(io: &FakeIo, origins: &[&str], edit: impl FnOnce(&mut ClientConfig)) -> Client<FakeIo> {
    let backends = origins
        .iter()
        .map(|o| {
            let mut b = backend_config(&format!("{o}/v1"));
            b.models = vec!["m".into()];
            b
        })
        .collect();
    let mut config = client_config(backends);
    config.routing_seed = Some(0);
    config.retry.initial_backoff_ms = Some(100);
    config.retry.max_backoff_ms = Some(1000);
    edit(&mut config);
    Client::open(config, io.clone()).expect("valid config")
}

fn ask() -> ChatRequest {
    ChatRequest::user("hi")
}

fn server_error() -> Reply {
    Reply::status(500, r#"{"error":{"message":"boom"}}"#)
}

// ---- retries --------------------------------------------------------------------------

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

// ---- failover, cooldowns, routing ---------------------------------------------------------

#[test]
fn a_dead_backend_fails_over_at_once_and_cools_down() {
    let io = FakeIo::default();
    io.on(&chat_url(A), Reply::Fail(refused()))
        .on(&chat_url(B), Reply::text("from b"));
    let c = client(&io, &[A, B], |_| {});
    for _ in 0..4 {
        assert_eq!(c.chat(ask()).unwrap().backend, "b:8000");
    }
    // A was tried once, then skipped while cooling down; no backoff wait was needed.
    let to_a = io.urls().iter().filter(|u| u.starts_with(A)).count();
    assert_eq!(to_a, 1);
    assert!(io.slept_ms().is_empty());
    // After the cooldown (5 s by default) A is tried again.
    io.advance_ms(5_000);
    c.chat(ask()).unwrap();
    c.chat(ask()).unwrap();
    assert_eq!(io.urls().iter().filter(|u| u.starts_with(A)).count(), 2);
}

#[test]
fn sequential_alternates_across_calls_and_tickets_decide_turns() {
    let io = FakeIo::default();
    io.on(&chat_url(A), Reply::text("a"))
        .on(&chat_url(B), Reply::text("b"));
    let c = client(&io, &[A, B], |_| {});
    let served: Vec<String> = (0..4).map(|_| c.chat(ask()).unwrap().backend).collect();
    assert_eq!(served, ["a:8000", "b:8000", "a:8000", "b:8000"]);
    let turn = |t| {
        let mut r = ask();
        r.routing_ticket = Some(t);
        c.chat(r).unwrap().backend
    };
    assert_eq!([turn(7), turn(7), turn(8)], ["b:8000", "b:8000", "a:8000"]);
}

#[test]
fn a_recovering_backend_is_confirmed_with_health_when_configured() {
    let io = FakeIo::default();
    io.push(&chat_url(A), Reply::Fail(refused()))
        .on(&chat_url(A), Reply::text("a"))
        .on(&chat_url(B), Reply::text("b"))
        .push(&format!("{A}/health"), Reply::status(503, "warming up"))
        .on(&format!("{A}/health"), Reply::json("{}"));
    let c = client(&io, &[A, B], |c| {
        c.routing = Some(RoutingStrategy::Priority);
        c.cooldown.probe_health = Some(true);
    });
    assert_eq!(c.chat(ask()).unwrap().backend, "b:8000");
    io.advance_ms(5_000);
    // Cooldown over: /health says 503, so B serves and A cools down again (10 s).
    assert_eq!(c.chat(ask()).unwrap().backend, "b:8000");
    io.advance_ms(10_000);
    assert_eq!(c.chat(ask()).unwrap().backend, "a:8000");
    let health_probes = io.urls().iter().filter(|u| u.ends_with("/health")).count();
    assert_eq!(health_probes, 2);
}

#[test]
fn least_loaded_reads_metrics_once_per_ttl_and_rarely_when_there_are_none() {
    let io = FakeIo::default();
    io.on(
        &format!("{A}/metrics"),
        Reply::json("vllm:num_requests_running 5\nvllm:num_requests_waiting 2\n"),
    )
    .on(
        &format!("{B}/metrics"),
        Reply::json("vllm:num_requests_running 0\n"),
    )
    .on(&chat_url(A), Reply::text("a"))
    .on(&chat_url(B), Reply::text("b"));
    let c = client(&io, &[A, B], |c| {
        c.routing = Some(RoutingStrategy::LeastLoaded)
    });
    let served: Vec<String> = (0..9).map(|_| c.chat(ask()).unwrap().backend).collect();
    // B starts 7 requests lighter: it takes the first 7 calls, then they share.
    assert_eq!(
        served.iter().filter(|b| *b == "b:8000").count(),
        8,
        "{served:?}"
    );
    let metrics_reads = io.urls().iter().filter(|u| u.ends_with("/metrics")).count();
    assert_eq!(metrics_reads, 2, "one reading per backend within the TTL");
    io.advance_ms(1_000);
    c.chat(ask()).unwrap();
    assert_eq!(
        io.urls().iter().filter(|u| u.ends_with("/metrics")).count(),
        4
    );

    // A server without known metrics is asked again only after 30 TTLs.
    let io = FakeIo::default();
    io.on(&format!("{A}/metrics"), Reply::json("# nothing known\n"))
        .on(&chat_url(A), Reply::text("a"));
    let c = client(&io, &[A], |c| {
        c.routing = Some(RoutingStrategy::LeastLoaded)
    });
    for _ in 0..3 {
        c.chat(ask()).unwrap();
        io.advance_ms(10_000);
    }
    assert_eq!(
        io.urls().iter().filter(|u| u.ends_with("/metrics")).count(),
        1
    );
    io.advance_ms(1_000);
    c.chat(ask()).unwrap();
    assert_eq!(
        io.urls().iter().filter(|u| u.ends_with("/metrics")).count(),
        2
    );
}

// ---- discovery ----------------------------------------------------------------------------

const MODELS: &str = r#"{"data":[{"id":"qwen","owned_by":"vllm","max_model_len":8192}]}"#;

#[test]
fn models_are_discovered_once_per_ttl_and_the_first_is_the_default() {
    let io = FakeIo::default();
    io.on(&format!("{A}/v1/models"), Reply::json(MODELS))
        .on(&chat_url(A), Reply::text("ok"));
    let config = client_config(vec![backend_config(&format!("{A}/v1"))]);
    let c = Client::open(config, io.clone()).unwrap();
    c.chat(ask()).unwrap();
    c.chat(ask()).unwrap();
    let sent = io.sent();
    assert_eq!(sent[0].method, Method::Get);
    assert_eq!(sent[1].body.as_ref().unwrap()["model"], "qwen");
    assert_eq!(
        io.urls().iter().filter(|u| u.ends_with("/models")).count(),
        1
    );
    io.advance_ms(300_000);
    c.chat(ask()).unwrap();
    assert_eq!(
        io.urls().iter().filter(|u| u.ends_with("/models")).count(),
        2
    );
}

#[test]
fn an_unknown_model_lists_what_every_backend_serves() {
    let io = FakeIo::default();
    io.on(&format!("{B}/v1/models"), Reply::json(MODELS));
    let mut a = backend_config(&format!("{A}/v1"));
    a.models = vec!["m".into()];
    let config = client_config(vec![a, backend_config(&format!("{B}/v1"))]);
    let c = Client::open(config, io.clone()).unwrap();
    let mut req = ask();
    req.model = Some("gpt-4o".into());
    let e = c.chat(req).unwrap_err();
    assert_eq!(
        e.code,
        ErrorCode::UnknownModel(vec!["m".into(), "qwen".into()])
    );
    assert!(io.urls().iter().all(|u| !u.ends_with("/chat/completions")));
}

#[test]
fn discovery_failures_are_retried_like_a_call() {
    let io = FakeIo::default();
    io.push(&format!("{A}/v1/models"), Reply::Fail(refused()))
        .on(&format!("{A}/v1/models"), Reply::json(MODELS))
        .on(&chat_url(A), Reply::text("ok"));
    let mut config = client_config(vec![backend_config(&format!("{A}/v1"))]);
    config.retry.initial_backoff_ms = Some(10);
    let r = Client::open(config, io.clone())
        .unwrap()
        .chat(ask())
        .unwrap();
    assert_eq!(r.content.as_deref(), Some("ok"));
    assert_eq!(io.slept_ms().len(), 1);
}

// ---- probes -------------------------------------------------------------------------------

#[test]
fn health_reports_each_backend_with_its_cooldown() {
    let io = FakeIo::default();
    io.on(&format!("{A}/health"), Reply::json("{}"))
        .on(
            &format!("{A}/metrics"),
            Reply::json("sglang:num_running_reqs 3\n"),
        )
        .on(&format!("{B}/health"), Reply::Fail(refused()))
        .on(&chat_url(B), Reply::Fail(refused()))
        .on(&chat_url(A), Reply::text("a"));
    let c = client(&io, &[A, B], |c| {
        c.routing = Some(RoutingStrategy::Priority)
    });
    c.chat({
        let mut r = ask();
        r.routing_ticket = None;
        r
    })
    .unwrap();
    let report = c.health();
    assert_eq!(report.len(), 2);
    assert!(report[0].healthy);
    assert_eq!(
        (report[0].load, report[0].models.clone()),
        (Some(3), vec!["m".to_string()])
    );
    assert!(!report[1].healthy);
    assert_eq!(
        report[1].error.as_ref().unwrap().code,
        ErrorCode::Connection
    );
    assert_eq!(
        report[1].error.as_ref().unwrap().backend.as_deref(),
        Some("b:8000")
    );
}

#[test]
fn list_models_fails_only_when_no_backend_answers() {
    let io = FakeIo::default();
    io.on(&format!("{A}/v1/models"), Reply::json(MODELS))
        .on(&format!("{B}/v1/models"), Reply::Fail(refused()));
    let config = client_config(vec![
        backend_config(&format!("{A}/v1")),
        backend_config(&format!("{B}/v1")),
    ]);
    let c = Client::open(config, io.clone()).unwrap();
    let models = c.list_models().unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].max_model_len, Some(8192));
    io.on(&format!("{A}/v1/models"), Reply::Fail(refused()));
    assert_eq!(c.list_models().unwrap_err().code, ErrorCode::Connection);
}

// ---- the stream state machine -------------------------------------------------------------

fn finish() -> Step {
    event(r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#)
}

fn contents(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Content(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

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

// ---- auto-detected server family ------------------------------------------------------

#[test]
fn an_auto_backend_is_detected_once_and_gets_its_familys_constraint_fields() {
    let io = FakeIo::default();
    io.on(
        &format!("{A}/v1/models"),
        Reply::json(r#"{"data":[{"id":"m","owned_by":"sglang"}]}"#),
    )
    .on(&chat_url(A), Reply::text("yes"));
    let c = client(&io, &[A], |c| c.backends[0].kind = BackendKind::Auto);
    let mut req = ask();
    req.response_format = Some(ResponseFormat::Choice(vec!["yes".into(), "no".into()]));
    c.chat(req.clone()).unwrap();
    c.chat(req).unwrap();
    let urls = io.urls();
    let models = urls.iter().filter(|u| u.ends_with("/models")).count();
    assert_eq!(models, 1, "detected once: {urls:?}");
    let body = io.sent().last().unwrap().body.clone().unwrap();
    // SGLang has no `choice`: an escaped regex alternation.
    assert_eq!(body["regex"], "(yes|no)", "{body}");
}

#[test]
fn an_unreachable_auto_backend_is_asked_again_next_call() {
    let io = FakeIo::default();
    io.push(&format!("{A}/v1/models"), Reply::status(503, "starting"))
        .on(
            &format!("{A}/v1/models"),
            Reply::json(r#"{"data":[{"id":"m","owned_by":"vllm"}]}"#),
        )
        .on(&chat_url(A), Reply::text("ok"));
    let c = client(&io, &[A], |c| c.backends[0].kind = BackendKind::Auto);
    c.chat(ask()).unwrap();
    c.chat(ask()).unwrap();
    let models = io.urls().iter().filter(|u| u.ends_with("/models")).count();
    assert_eq!(models, 2);
}

// ---- generation control: request ids, priority, suspend/resume, failover, cancel -------

/// Every event until the end (or the error), and the final record.
fn drain(s: &mut super::ChatStream<FakeIo>) -> (String, Result<ChatResponse, Error>) {
    let mut text = String::new();
    loop {
        match s.next(Wait::Block) {
            Ok(events) if events.is_empty() => panic!("ended without done"),
            Ok(events) => {
                text.push_str(&contents(&events));
                if let Some(StreamEvent::Done(r)) = events.last() {
                    return (text, Ok(r.clone()));
                }
            }
            Err(e) => return (text, Err(e)),
        }
    }
}

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
