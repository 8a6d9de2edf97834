//! The `auto` backend kind: detected once from the model list.

use super::*;

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
