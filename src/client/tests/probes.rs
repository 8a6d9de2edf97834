//! Probes: `/health` and `/metrics`, and `health`.

use super::*;

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
