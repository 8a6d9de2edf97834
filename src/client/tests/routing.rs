//! Failover, cooldowns and routing across calls.

use super::*;

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
    // B is 7 requests lighter, and a call that has ended is no load: B serves all nine
    // one-after-another calls (once, each counted until the next reading: 8 of 9).
    assert_eq!(
        served.iter().filter(|b| *b == "b:8000").count(),
        9,
        "{served:?}"
    );
    let metrics_reads = io.urls().iter().filter(|u| u.ends_with("/metrics")).count();
    assert_eq!(metrics_reads, 2, "one reading per backend within the TTL");
    assert_eq!(io.batches(), [2], "both backends asked together");
    io.advance_ms(1_000);
    c.chat(ask()).unwrap();
    assert_eq!(
        io.urls().iter().filter(|u| u.ends_with("/metrics")).count(),
        4
    );
    assert_eq!(io.batches(), [2, 2]);

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
