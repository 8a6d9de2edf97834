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

#[test]
fn a_dead_first_backend_does_not_fail_calls_the_others_serve() {
    let io = FakeIo::default();
    io.on(&format!("{A}/v1/models"), Reply::Fail(refused()))
        .on(&chat_url(A), Reply::Fail(refused()))
        .on(&format!("{B}/v1/models"), Reply::json(MODELS))
        .on(&chat_url(B), Reply::text("ok"));
    let config = client_config(vec![
        backend_config(&format!("{A}/v1")),
        backend_config(&format!("{B}/v1")),
    ]);
    let c = Client::open(config, io.clone()).unwrap();
    // No model in the request and the first backend cannot list its own: the next one's.
    assert_eq!(c.chat(ask()).unwrap().backend, "b:8000");
    assert_eq!(sent_model(&io), "qwen");
    // While it cools down the dead backend is not asked for its models on every call.
    let asked = |io: &FakeIo| {
        let a_models = format!("{A}/v1/models");
        io.urls().iter().filter(|u| **u == a_models).count()
    };
    let before = asked(&io);
    for _ in 0..5 {
        assert_eq!(c.chat(ask()).unwrap().backend, "b:8000");
    }
    assert_eq!(asked(&io), before, "{:?}", io.urls());
}

#[test]
fn a_listing_outlives_its_ttl_while_the_server_cannot_be_asked() {
    let io = FakeIo::default();
    io.push(&format!("{A}/v1/models"), Reply::json(MODELS))
        .on(&format!("{A}/v1/models"), Reply::Fail(refused()))
        .push(&chat_url(A), Reply::text("a"))
        .on(&chat_url(A), Reply::Fail(refused()))
        .on(&format!("{B}/v1/models"), Reply::json(MODELS))
        .on(&chat_url(B), Reply::text("b"));
    let mut config = client_config(vec![
        backend_config(&format!("{A}/v1")),
        backend_config(&format!("{B}/v1")),
    ]);
    config.routing = Some(RoutingStrategy::Priority);
    let c = Client::open(config, io.clone()).unwrap();
    assert_eq!(c.chat(ask()).unwrap().backend, "a:8000");
    // The listing expires and the first backend dies: its old listing still names the
    // default model, and the call is served by the other backend.
    io.advance_ms(300_000);
    assert_eq!(c.chat(ask()).unwrap().backend, "b:8000");
    assert_eq!(sent_model(&io), "qwen");
}

/// The model the last chat request named.
fn sent_model(io: &FakeIo) -> String {
    let chat = io
        .sent()
        .into_iter()
        .rev()
        .find(|s| s.url.ends_with("/chat/completions"));
    chat.and_then(|s| s.body)
        .map(|b| b["model"].to_string().trim_matches('"').to_string())
        .unwrap_or_default()
}
