//! Stream assembly: events and the final record from every server's chunk shapes, any split.

use super::*;
use crate::decode::tool_calls::CountingIds;
use crate::testing::{SERVED, request, user, with_tool};
use crate::types::*;
use crate::wire::sse::SseParser;

/// The content deltas, joined.
fn content(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| {
            if let StreamEvent::Content(c) = e {
                Some(c.as_str())
            } else {
                None
            }
        })
        .collect()
}

/// Runs a raw SSE body through parser + assembler in the given chunking.
fn run(
    req: &ChatRequest,
    body: &[u8],
    chunks: &[usize],
) -> (Vec<StreamEvent>, Result<ChatResponse, Error>) {
    let mut a = Assembler::new(DecodeOptions::for_request(req));
    let mut p = SseParser::new();
    let mut events = Vec::new();
    let mut rest = body;
    for &n in chunks {
        let n = n.min(rest.len());
        p.push(&rest[..n], &mut |d| a.on_data(d, &mut events));
        rest = &rest[n..];
    }
    p.push(rest, &mut |d| a.on_data(d, &mut events));
    p.finish(&mut |d| a.on_data(d, &mut events));
    let result = a.finish(&SERVED, &mut CountingIds::default(), &mut events);
    (events, result)
}

fn sse(chunks: &[&str]) -> Vec<u8> {
    chunks
        .iter()
        .map(|c| format!("data: {c}\n\n"))
        .collect::<String>()
        .into_bytes()
}

#[test]
fn text_with_usage_chunk() {
    let body = sse(&[
        r#"{"id":"c1","model":"m1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
        r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
        r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}"#,
        r#"{"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
        "[DONE]",
    ]);
    let (events, r) = run(&request(vec![user("x")]), &body, &[]);
    assert_eq!(
        events,
        vec![
            StreamEvent::Content("Hel".into()),
            StreamEvent::Content("lo".into())
        ]
    );
    let r = r.unwrap();
    assert_eq!(
        (r.content.as_deref(), r.model.as_str()),
        (Some("Hello"), "m1")
    );
    assert_eq!(r.usage.unwrap().total_tokens, 5);
    assert_eq!(r.finish_reason, Some(FinishReason::Stop));
}

fn tools_request() -> ChatRequest {
    with_tool("fs/read")
}

#[test]
fn vllm_tool_deltas_with_empty_ids_and_sglang_repeated_ids() {
    let vllm = sse(&[
        r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"fs__read","arguments":""}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"","function":{"arguments":"{\"path\": "}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"fs__read","arguments":"{}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"/x\"}"}}]},"finish_reason":"tool_calls"}]}"#,
        "[DONE]",
    ]);
    let (events, r) = run(&tools_request(), &vllm, &[]);
    let r = r.unwrap();
    assert_eq!(
        r.tool_calls,
        vec![
            ToolCall {
                id: "call_a".into(),
                name: "fs/read".into(),
                arguments: "{\"path\": \"/x\"}".into()
            },
            ToolCall {
                id: "call_b".into(),
                name: "fs/read".into(),
                arguments: "{}".into()
            },
        ]
    );
    assert_eq!(
        events[0],
        StreamEvent::ToolCall(ToolCallDelta {
            index: 0,
            id: Some("call_a".into()),
            name: Some("fs/read".into()),
            arguments: String::new()
        })
    );
    let sglang = sse(&[
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"s1","function":{"name":"fs__read","arguments":"{\"pa"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"s1","function":{"arguments":"th\": 1}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        "[DONE]",
    ]);
    let r = run(&tools_request(), &sglang, &[]).1.unwrap();
    assert_eq!(
        r.tool_calls,
        vec![ToolCall {
            id: "s1".into(),
            name: "fs/read".into(),
            arguments: "{\"path\": 1}".into()
        }]
    );
}

#[test]
fn duplicated_final_fragment_and_null_arguments() {
    let body = sse(&[
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"fs__read","arguments":null}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\": \"/x\"}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"/x\"}"}}]},"finish_reason":"tool_calls"}]}"#,
        "[DONE]",
    ]);
    let r = run(&tools_request(), &body, &[]).1.unwrap();
    assert_eq!(r.tool_calls[0].arguments, "{\"path\": \"/x\"}");
    assert!(r.invalid_tool_calls.is_empty());
}

#[test]
fn mid_stream_error_keeps_the_partial_text() {
    let body = sse(&[
        r#"{"choices":[{"index":0,"delta":{"content":"Partial "}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"text"}}]}"#,
        r#"{"error":{"object":"error","message":"engine overloaded","type":"InternalServerError","code":503}}"#,
        "[DONE]",
    ]);
    let e = run(&request(vec![user("x")]), &body, &[]).1.unwrap_err();
    assert_eq!(e.code, ErrorCode::Unavailable);
    assert!(e.message.contains("engine overloaded"), "{}", e.message);
    assert_eq!(e.partial.unwrap().content.as_deref(), Some("Partial text"));
}

#[test]
fn truncated_stream_is_reported_with_partial() {
    let body = sse(&[r#"{"choices":[{"index":0,"delta":{"content":"cut"}}]}"#]);
    let e = run(&request(vec![user("x")]), &body, &[]).1.unwrap_err();
    assert_eq!(e.code, ErrorCode::Truncated);
    assert_eq!(e.partial.unwrap().content.as_deref(), Some("cut"));
    // A finish reason without [DONE] is a complete answer.
    let body =
        sse(&[r#"{"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}"#]);
    assert_eq!(
        run(&request(vec![user("x")]), &body, &[])
            .1
            .unwrap()
            .content
            .as_deref(),
        Some("ok")
    );
}

#[test]
fn think_tags_and_text_tool_calls_stay_out_of_content_deltas() {
    let body = sse(&[
        r#"{"choices":[{"index":0,"delta":{"content":"<thi"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"nk>plan</think>Calling. <tool"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"_call>{\"name\":\"fs/read\",\"arguments\":{\"path\":\"p\"}}</tool_call>"},"finish_reason":"stop"}]}"#,
        "[DONE]",
    ]);
    let (events, r) = run(&tools_request(), &body, &[]);
    let r = r.unwrap();
    assert_eq!(r.reasoning.as_deref(), Some("plan"));
    assert_eq!(r.content.as_deref(), Some("Calling."));
    assert_eq!(r.tool_calls.len(), 1);
    let text = content(&events);
    assert_eq!(text, "Calling. ");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StreamEvent::ToolCall(d) if d.name.as_deref() == Some("fs/read")))
    );
    // Held text that is not a call is released at the end.
    let body = sse(&[
        r#"{"choices":[{"index":0,"delta":{"content":"Use <tool_call> tags"},"finish_reason":"stop"}]}"#,
        "[DONE]",
    ]);
    let (events, r) = run(&tools_request(), &body, &[]);
    assert_eq!(r.unwrap().content.as_deref(), Some("Use <tool_call> tags"));
    let text = content(&events);
    assert_eq!(text, "Use <tool_call> tags");
}

#[test]
fn repeated_reasoning_tokens_are_kept_and_double_fields_counted_once() {
    let body = sse(&[
        r#"{"choices":[{"index":0,"delta":{"reasoning":"\n"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"reasoning":"\n"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"reasoning":"ha","reasoning_content":"ha"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"reasoning":"ha"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}"#,
        "[DONE]",
    ]);
    let (events, r) = run(&request(vec![user("x")]), &body, &[]);
    let streamed: String = events
        .iter()
        .filter_map(|e| {
            if let StreamEvent::Reasoning(t) = e {
                Some(t.as_str())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(streamed, "\n\nhaha");
    assert_eq!(r.unwrap().reasoning.as_deref(), Some("\n\nhaha"));
}

#[test]
fn with_tools_offered_a_code_fence_inside_an_answer_still_streams() {
    let body = sse(&[
        r#"{"choices":[{"index":0,"delta":{"content":"Code:\n"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"```rust\nfn main() {}\n```"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":" done"},"finish_reason":"stop"}]}"#,
        "[DONE]",
    ]);
    let (events, r) = run(&tools_request(), &body, &[]);
    let before_end: String = events
        .iter()
        .take(3)
        .filter_map(|e| {
            if let StreamEvent::Content(t) = e {
                Some(t.as_str())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(before_end, "Code:\n```rust\nfn main() {}\n``` done");
    assert!(r.unwrap().tool_calls.is_empty());
}

#[test]
fn every_byte_split_gives_the_same_final_response() {
    let body = sse(&[
        r#"{"id":"x","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning_content":"héllo "}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"wörld 🦀"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"fs__read","arguments":"{\"p\":"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]},"finish_reason":"tool_calls"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
        "[DONE]",
    ]);
    let body = String::from_utf8(body)
        .unwrap()
        .replace("\n\n", "\r\n\r\n")
        .into_bytes();
    let whole = run(&tools_request(), &body, &[]).1.unwrap();
    for i in 0..body.len() {
        assert_eq!(
            run(&tools_request(), &body, &[i]).1.unwrap(),
            whole,
            "split at {i}"
        );
    }
    // Pseudo-random chunkings (xorshift; deterministic).
    let mut seed = 0x9e3779b97f4a7c15u64;
    for _ in 0..200 {
        let chunks: Vec<usize> = (0..20)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed % 40) as usize
            })
            .collect();
        assert_eq!(
            run(&tools_request(), &body, &chunks).1.unwrap(),
            whole,
            "{chunks:?}"
        );
    }
}

#[test]
fn server_chosen_tool_call_indices_and_counts_are_bounded() {
    // A huge index is an error with the partial, never a size to allocate.
    let body = sse(&[
        r#"{"choices":[{"index":0,"delta":{"content":"before"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":4000000000,"id":"x","function":{"name":"get_weather","arguments":"{}"}}]}}]}"#,
        "[DONE]",
    ]);
    let (_, result) = run(&tools_request(), &body, &[]);
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::MalformedResponse);
    assert!(e.message.contains("index 4000000000"), "{}", e.message);
    assert_eq!(e.partial.unwrap().content.as_deref(), Some("before"));

    // More calls in one delta than an answer may have.
    let many = vec![r#"{"index":0}"#; completion::MAX_TOOL_CALLS + 5].join(",");
    let chunk = format!(r#"{{"choices":[{{"index":0,"delta":{{"tool_calls":[{many}]}}}}]}}"#);
    let (_, result) = run(&tools_request(), &sse(&[&chunk, "[DONE]"]), &[]);
    let e = result.unwrap_err();
    assert_eq!(e.code, ErrorCode::MalformedResponse);
    assert!(e.message.contains("133 tool calls"), "{}", e.message);
}

#[test]
fn whitespace_deltas_before_a_think_tag_are_held_once() {
    let mut chunks = vec![r#"{"choices":[{"index":0,"delta":{"content":"\n"}}]}"#; 20_000];
    chunks.push(r#"{"choices":[{"index":0,"delta":{"content":"<think>r</think>"}}]}"#);
    chunks.push(r#"{"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]}"#);
    let (events, result) = run(&request(vec![user("x")]), &sse(&chunks), &[]);
    let r = result.unwrap();
    assert_eq!(
        (r.reasoning.as_deref(), r.content.as_deref()),
        (Some("r"), Some("a"))
    );
    assert_eq!(content(&events), "a");
}

#[test]
fn logprobs_stream_as_their_own_events_and_land_in_the_record() {
    let body = sse(&[
        r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.5,"top_logprobs":[{"token":"Hi","logprob":-0.5},{"token":"Hey","logprob":-1.5}]}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"!"},"logprobs":{"content":[{"token":"!","logprob":null,"top_logprobs":[]}]},"finish_reason":"stop"}]}"#,
        "[DONE]",
    ]);
    let (events, result) = run(&request(vec![user("x")]), &body, &[]);
    let logprob_events: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Logprobs(l) => Some(l.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(logprob_events.len(), 2);
    assert_eq!(logprob_events[0][0].top[1].token, "Hey");
    let r = result.unwrap();
    assert_eq!(r.logprobs.len(), 2);
    assert_eq!(r.logprobs[1].logprob, f64::NEG_INFINITY, "null is -inf");
}
