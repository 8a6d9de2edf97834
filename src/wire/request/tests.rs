//! Request bodies per server family: fields sent only when set, constraints, tools, images,
//! control fields, refusals.
use super::*;
use crate::testing::{backend, request, user};
use crate::types::*;

fn body(req: &ChatRequest, kind: BackendKind) -> Value {
    serde_json::from_slice(&chat_body(req, "m", &backend(kind), false).unwrap()).unwrap()
}

#[test]
fn minimal_request_sends_only_what_was_set() {
    let v = body(&request(vec![user("hi")]), BackendKind::Vllm);
    assert_eq!(
        v,
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    );
}

#[test]
fn sampling_and_stream_fields() {
    let mut r = request(vec![user("hi")]);
    r.sampling.temperature = Some(0.7);
    r.sampling.top_k = Some(-1);
    r.sampling.max_tokens = Some(16);
    r.sampling.stop = vec!["\n".into()];
    r.sampling.seed = Some(-5);
    r.sampling.repetition_penalty = Some(1.1);
    let v: Value =
        serde_json::from_slice(&chat_body(&r, "m", &backend(BackendKind::Sglang), true).unwrap())
            .unwrap();
    assert_eq!(v["temperature"], json!(0.7));
    assert_eq!(v["top_k"], json!(-1));
    assert_eq!(v["max_tokens"], json!(16));
    assert_eq!(v["stop"], json!(["\n"]));
    assert_eq!(v["seed"], json!(-5));
    assert_eq!(v["repetition_penalty"], json!(1.1));
    assert_eq!(v["stream"], json!(true));
    assert_eq!(v["stream_options"], json!({"include_usage": true}));
    r.sampling.top_p = Some(f64::NAN);
    let e = chat_body(&r, "m", &backend(BackendKind::Vllm), false).unwrap_err();
    assert!(e.message.contains("top_p"), "{}", e.message);
}

#[test]
fn tools_and_multi_turn_use_the_openai_shape_with_aios_names() {
    let mut r = request(vec![
        user("read it"),
        Message {
            role: Role::Assistant,
            content: None,
            name: None,
            tool_calls: vec![ToolCall {
                id: "c1".into(),
                name: "fs/read".into(),
                arguments: r#"{"p":"/x"}"#.into(),
            }],
            tool_call_id: None,
            parts: vec![],
        },
        Message {
            role: Role::Tool,
            content: Some("data".into()),
            name: None,
            tool_calls: vec![],
            tool_call_id: Some("c1".into()),
            parts: vec![],
        },
    ]);
    r.tools = vec![ToolDefinition {
        name: "fs/read".into(),
        description: Some("Read a file".into()),
        parameters: Some(r#"{"type":"object","properties":{"p":{"type":"string"}}}"#.into()),
    }];
    r.tool_choice = Some(ToolChoice::Named("fs/read".into()));
    r.parallel_tool_calls = Some(false);
    validate(&r).unwrap();
    let v = body(&r, BackendKind::Vllm);
    assert_eq!(v["tools"][0]["function"]["name"], json!("fs__read"));
    assert_eq!(
        v["tools"][0]["function"]["parameters"]["properties"]["p"]["type"],
        json!("string")
    );
    assert_eq!(
        v["tool_choice"],
        json!({"type": "function", "function": {"name": "fs__read"}})
    );
    assert_eq!(v["parallel_tool_calls"], json!(false));
    assert_eq!(
        v["messages"][1],
        json!({"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "fs__read", "arguments": "{\"p\":\"/x\"}"}}]})
    );
    assert_eq!(
        v["messages"][2],
        json!({"role": "tool", "content": "data", "tool_call_id": "c1"})
    );
}

#[test]
fn invalid_requests_are_refused_before_sending() {
    let mut r = request(vec![]);
    assert!(validate(&r).unwrap_err().message.contains("no messages"));
    r.messages = vec![Message {
        role: Role::Tool,
        content: Some("x".into()),
        name: None,
        tool_calls: vec![],
        tool_call_id: None,
        parts: vec![],
    }];
    assert!(validate(&r).unwrap_err().message.contains("tool-call-id"));
    r.messages = vec![user("x")];
    r.tool_choice = Some(ToolChoice::Named("nope".into()));
    assert!(
        validate(&r)
            .unwrap_err()
            .message
            .contains("not among the offered tools")
    );
    r.tool_choice = None;
    r.extra_body = Some("[1]".into());
    assert!(validate(&r).unwrap_err().message.contains("extra-body"));
    r.extra_body = None;
    r.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
        name: "bad name".into(),
        description: None,
        schema: "{}".into(),
        strict: None,
    }));
    assert!(
        validate(&r)
            .unwrap_err()
            .message
            .contains("json-schema name")
    );
    r.response_format = None;
    r.tools = vec![ToolDefinition {
        name: "t".into(),
        description: None,
        parameters: Some("{".into()),
    }];
    assert!(
        validate(&r)
            .unwrap_err()
            .message
            .contains("parameters is not valid JSON")
    );
    let tool = |name: &str| ToolDefinition {
        name: name.into(),
        description: None,
        parameters: None,
    };
    r.tools = vec![tool("a"), tool("a")];
    assert!(validate(&r).unwrap_err().message.contains("offered twice"));
    r.tools = vec![tool("fs/read"), tool("fs__read")];
    let e = validate(&r).unwrap_err().message;
    assert!(e.contains("both sent as `fs__read`"), "{e}");
    r.tools = vec![tool("fs/read"), tool("fs/write")];
    assert!(validate(&r).is_ok());
}

#[test]
fn constraints_map_per_backend_kind() {
    let mut r = request(vec![user("x")]);
    let cases = [
        (
            ResponseFormat::Regex("a+".into()),
            BackendKind::Vllm,
            json!({"structured_outputs": {"regex": "a+"}}),
        ),
        (
            ResponseFormat::Regex("a+".into()),
            BackendKind::Sglang,
            json!({"regex": "a+"}),
        ),
        (
            ResponseFormat::Regex("a+".into()),
            BackendKind::OpenaiCompatible,
            json!({"grammar": "root ::= (\"a\")+"}),
        ),
        (
            ResponseFormat::Choice(vec!["x".into(), "y.z".into()]),
            BackendKind::Vllm,
            json!({"structured_outputs": {"choice": ["x", "y.z"]}}),
        ),
        (
            ResponseFormat::Choice(vec!["x".into(), "y.z".into()]),
            BackendKind::Sglang,
            json!({"regex": "(x|y\\.z)"}),
        ),
        (
            ResponseFormat::Choice(vec!["x".into(), "y.z".into()]),
            BackendKind::OpenaiCompatible,
            json!({"grammar": "root ::= \"x\" | \"y.z\""}),
        ),
        (
            ResponseFormat::Grammar("root ::= \"a\"".into()),
            BackendKind::Vllm,
            json!({"structured_outputs": {"grammar": "root ::= \"a\""}}),
        ),
        (
            ResponseFormat::Grammar("root ::= \"a\"".into()),
            BackendKind::Sglang,
            json!({"ebnf": "root ::= \"a\""}),
        ),
        (
            ResponseFormat::Grammar("root ::= \"a\"".into()),
            BackendKind::OpenaiCompatible,
            json!({"grammar": "root ::= \"a\""}),
        ),
        (
            ResponseFormat::JsonObject,
            BackendKind::Sglang,
            json!({"response_format": {"type": "json_object"}}),
        ),
        (ResponseFormat::Text, BackendKind::Vllm, json!({})),
    ];
    for (format, kind, expected) in cases {
        r.response_format = Some(format.clone());
        let mut v = body(&r, kind);
        let Value::Object(map) = &mut v else {
            unreachable!()
        };
        map.remove("model");
        map.remove("messages");
        assert_eq!(v, expected, "{format:?} on {kind:?}");
    }
    let mut legacy = backend(BackendKind::Vllm);
    legacy.legacy_guided_decoding = true;
    r.response_format = Some(ResponseFormat::Choice(vec!["a".into()]));
    let v: Value = serde_json::from_slice(&chat_body(&r, "m", &legacy, false).unwrap()).unwrap();
    assert_eq!(v["guided_choice"], json!(["a"]));

    r.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
        name: "city".into(),
        description: None,
        schema: r#"{"type":"object","properties":{"city":{"type":"string"}}}"#.into(),
        strict: Some(true),
    }));
    let v = body(&r, BackendKind::OpenaiCompatible);
    assert_eq!(v["response_format"]["type"], json!("json_schema"));
    assert_eq!(v["response_format"]["json_schema"]["name"], json!("city"));
    assert_eq!(v["response_format"]["json_schema"]["strict"], json!(true));
    assert_eq!(
        v["response_format"]["json_schema"]["schema"]["properties"]["city"]["type"],
        json!("string")
    );
}

#[test]
fn unexpressible_constraints_are_refused() {
    let mut r = request(vec![user("x")]);
    r.tools = vec![ToolDefinition {
        name: "t".into(),
        description: None,
        parameters: None,
    }];
    r.response_format = Some(ResponseFormat::Grammar("root ::= \"a\"".into()));
    let e = chat_body(&r, "m", &backend(BackendKind::OpenaiCompatible), false).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(e.message.contains("together with tools"), "{}", e.message);
    r.tools.clear();
    r.response_format = Some(ResponseFormat::Regex(r"(a)\1".into()));
    let e = chat_body(&r, "m", &backend(BackendKind::OpenaiCompatible), false).unwrap_err();
    assert!(e.message.contains("back-reference"), "{}", e.message);
}

#[test]
fn extra_body_is_merged_last() {
    let mut r = request(vec![user("x")]);
    r.sampling.temperature = Some(1.0);
    r.extra_body =
        Some(r#"{"temperature":0.1,"chat_template_kwargs":{"enable_thinking":false}}"#.into());
    let v = body(&r, BackendKind::Vllm);
    assert_eq!(v["temperature"], json!(0.1));
    assert_eq!(v["chat_template_kwargs"], json!({"enable_thinking": false}));
}

#[test]
fn images_and_logprobs_in_the_openai_shapes() {
    let mut r = request(vec![user("Describe these.")]);
    r.messages[0].parts = vec![
        ContentPart::ImageUrl("https://example.com/cat.png".into()),
        ContentPart::Image(ImageData {
            mime_type: "image/png".into(),
            bytes: b"\x89PNG".to_vec(),
        }),
    ];
    r.logprobs = Some(2);
    let v = body(&r, BackendKind::Vllm);
    assert_eq!(
        v["messages"][0]["content"],
        json!([
            {"type": "text", "text": "Describe these."},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}}
        ])
    );
    assert_eq!(
        (&v["logprobs"], &v["top_logprobs"]),
        (&json!(true), &json!(2))
    );

    r.messages[0].parts = vec![ContentPart::Image(ImageData {
        mime_type: "text/html".into(),
        bytes: vec![1],
    })];
    assert!(
        validate(&r)
            .unwrap_err()
            .message
            .contains("not an image type")
    );
    r.messages[0].parts = vec![ContentPart::Image(ImageData {
        mime_type: "image/jpeg".into(),
        bytes: vec![0; MAX_INLINE_IMAGE_BYTES + 1],
    })];
    assert!(
        validate(&r)
            .unwrap_err()
            .message
            .contains("pass large images by URL")
    );
}
