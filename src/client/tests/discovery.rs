//! Discovery: which model, which backends, the model-list cache.

use super::*;

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
