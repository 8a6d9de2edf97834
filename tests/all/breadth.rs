//! Beyond chat, through the component on replayed vLLM / SGLang shapes: token counts,
//! embeddings (batched, base64), images as content parts, per-token logprobs, cached prompt
//! tokens, and the servers' error shapes for each. The live counterparts are in `live`.

use crate::support::*;
use llm_core_host::types::*;
use replay_server::{ReplayServer, Reply, replies};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn vllm_counts_tokens_at_tokenize_with_the_messages() {
    let (server, client) = vllm().await;
    server.on(
        "/tokenize",
        Reply::json(r#"{"count":17,"max_model_len":32768,"tokens":[1,2,3],"token_strs":null}"#),
    );
    let mut req = ask("How long is this?");
    req.sampling.temperature = Some(0.3);
    let count = client.count_tokens(req).await.unwrap();
    assert_eq!(
        (count.prompt_tokens, count.max_model_len),
        (17, Some(32768))
    );
    assert_eq!(count.model, "m");
    let body = server.last().json();
    assert_eq!(body["messages"][0]["content"], "How long is this?");
    assert_eq!(body["add_generation_prompt"], true);
    assert!(
        body.get("temperature").is_none(),
        "only what shapes the prompt: {body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn embeddings_are_batched_and_put_back_in_order() {
    let server = ReplayServer::start().await;
    // The second batch answers base64 and out of order.
    let b64 = "AAAAPwAAgL8="; // [0.5, -1.0] as little-endian f32
    server.push(
        "/v1/embeddings",
        Reply::json(r#"{"object":"list","data":[{"index":0,"embedding":[1,0]},{"index":1,"embedding":[0,1]}],"model":"e5","usage":{"prompt_tokens":4,"total_tokens":4}}"#),
    );
    server.push(
        "/v1/embeddings",
        Reply::json(format!(
            r#"{{"object":"list","data":[{{"index":0,"embedding":"{b64}"}}],"model":"e5","usage":{{"prompt_tokens":2,"total_tokens":2}}}}"#
        )),
    );
    let client = client(BackendKind::Sglang, &server.base_url()).await;
    let e = client
        .embed(EmbedRequest {
            inputs: vec!["a".into(), "b".into(), "c".into()],
            model: Some("e5".into()),
            dimensions: Some(2),
            batch_size: Some(2),
            timeout_ms: None,
        })
        .await
        .unwrap();
    assert_eq!(
        e.vectors,
        vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![0.5, -1.0]]
    );
    assert_eq!((e.usage.unwrap().prompt_tokens, e.attempts), (6, 2));
    let sent = server.requests_to("/v1/embeddings");
    assert_eq!(sent[0].json()["input"], json!(["a", "b"]));
    assert_eq!(sent[1].json()["input"], json!(["c"]));
    assert_eq!(sent[1].json()["dimensions"], 2);

    // vLLM's answer for a model that does not embed: a typed error with the server's words.
    server.push(
        "/v1/embeddings",
        Reply::status_json(
            400,
            r#"{"object":"error","message":"The model does not support Embeddings API","type":"BadRequestError","code":400}"#,
        ),
    );
    let err = client
        .embed(EmbedRequest {
            inputs: vec!["x".into()],
            model: Some("e5".into()),
            dimensions: None,
            batch_size: None,
            timeout_ms: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(400));
    assert!(
        err.message.contains("does not support Embeddings"),
        "{}",
        err.message
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn images_go_as_content_parts_and_a_text_only_model_says_so() {
    let (server, client) = vllm().await;
    server.push(
        CHAT,
        Reply::status_json(
            400,
            r#"{"object":"error","message":"Qwen/Qwen3-8B is not a multimodal model","type":"BadRequestError","code":400}"#,
        ),
    );
    let mut req = ask("What is in this picture?");
    req.messages[0].parts = vec![ContentPart::Image(ImageData {
        mime_type: "image/png".into(),
        bytes: vec![0x89, b'P', b'N', b'G'],
    })];
    let e = client.chat(req).await.unwrap_err();
    assert!(
        e.message.contains("not a multimodal model"),
        "{}",
        e.message
    );
    let content = server.last().json()["messages"][0]["content"].clone();
    assert_eq!(
        content,
        json!([
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}}
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logprobs_and_cached_tokens_are_read_from_vllm() {
    let (server, client) = vllm().await;
    server.push(
        CHAT,
        Reply::json(
            r#"{"id":"c","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.25,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-0.25},{"token":"Hello","logprob":-1.75}]}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":30,"completion_tokens":1,"total_tokens":31,"prompt_tokens_details":{"cached_tokens":16}}}"#,
        ),
    );
    let mut req = ask("hi");
    req.logprobs = Some(2);
    let r = client.chat(req).await.unwrap();
    assert_eq!(r.logprobs.len(), 1);
    assert_eq!(r.logprobs[0].top[1].token, "Hello");
    assert_eq!(r.usage.unwrap().cached_tokens, Some(16));
    let sent = server.last().json();
    assert_eq!(
        (&sent["logprobs"], &sent["top_logprobs"]),
        (&json!(true), &json!(2))
    );

    // SGLang reports cached tokens at the top of usage.
    server.push(
        CHAT,
        Reply::json(
            r#"{"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10,"cached_tokens":8}}"#,
        ),
    );
    let r = client.chat(ask("hi")).await.unwrap();
    assert_eq!(r.usage.unwrap().cached_tokens, Some(8));
}

#[tokio::test(flavor = "multi_thread")]
async fn sglang_shapes_for_token_counts_embeddings_streamed_logprobs_and_images() {
    let server = ReplayServer::start().await;
    let client = client(BackendKind::Sglang, &server.base_url()).await;

    // Token counts: SGLang's `/tokenize` takes the chat messages, like vLLM's.
    server.on(
        "/tokenize",
        Reply::json(r#"{"tokens":[1,2,3,4,5,6,7,8,9],"count":9,"max_model_len":8192}"#),
    );
    let count = client.count_tokens(ask("Count me")).await.unwrap();
    assert_eq!((count.prompt_tokens, count.max_model_len), (9, Some(8192)));
    assert_eq!(server.last().json()["messages"][0]["content"], "Count me");

    // Embeddings from a generative model: SGLang's error shape, kept whole.
    let refusal = r#"{"object":"error","message":"This model does not appear to be an embedding model by default.","type":"BadRequestError","param":null,"code":400}"#;
    server.push("/v1/embeddings", Reply::status_json(400, refusal));
    let err = client
        .embed(EmbedRequest {
            inputs: vec!["x".into()],
            model: Some("m".into()),
            dimensions: None,
            batch_size: None,
            timeout_ms: None,
        })
        .await
        .unwrap_err();
    assert_eq!((err.code, err.status), (ErrorCode::HttpStatus, Some(400)));
    assert!(
        err.message.contains("not appear to be an embedding model"),
        "{}",
        err.message
    );
    assert_eq!(err.body.as_deref(), Some(refusal));

    // Streamed logprobs: each chunk's `logprobs.content` becomes a logprobs event.
    let lp = |token: &str, logprob: f64| json!({"content": [{"token": token, "logprob": logprob, "top_logprobs": [{"token": token, "logprob": logprob}, {"token": "x", "logprob": -9.0}]}]});
    let chunk = |text: &str, logprob: f64| {
        json!({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": text}, "logprobs": lp(text, logprob), "finish_reason": null}]}).to_string()
    };
    server.push(
        CHAT,
        Reply::sse_raw([
            replies::event(&chunk("Hi", -0.5)),
            replies::event(&chunk(" there", -1.5)),
            replies::event(&replies::finish_chunk("stop")),
            replies::event(replies::DONE),
        ]),
    );
    let mut req = ask("hi");
    req.logprobs = Some(1);
    let mut stream = client.chat_stream(req).await.unwrap();
    let mut streamed = Vec::new();
    let mut done = None;
    while let Some(event) = futures::StreamExt::next(&mut stream).await {
        match event.unwrap() {
            StreamEvent::Logprobs(l) => streamed.extend(l),
            StreamEvent::Done(r) => done = Some(r),
            _ => {}
        }
    }
    let tokens: Vec<_> = streamed
        .iter()
        .map(|t| (t.token.as_str(), t.logprob))
        .collect();
    assert_eq!(tokens, [("Hi", -0.5), (" there", -1.5)]);
    assert_eq!(streamed[1].top[1].token, "x");
    assert_eq!(done.unwrap().content.as_deref(), Some("Hi there"));
    let sent = server.last().json();
    assert_eq!(
        (&sent["logprobs"], &sent["top_logprobs"]),
        (&json!(true), &json!(1))
    );

    // An image to a text-only SGLang model: its error, typed, with the body.
    server.push(
        CHAT,
        Reply::status_json(
            400,
            r#"{"object":"error","message":"The model does not support image input.","type":"BadRequestError","param":null,"code":400}"#,
        ),
    );
    let mut req = ask("What is this?");
    req.messages[0].parts = vec![ContentPart::ImageUrl("https://example.com/cat.png".into())];
    let e = client.chat(req).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::HttpStatus);
    assert!(
        e.message.contains("does not support image input"),
        "{}",
        e.message
    );
    assert_eq!(
        server.last().json()["messages"][0]["content"][1],
        json!({"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}})
    );
}
