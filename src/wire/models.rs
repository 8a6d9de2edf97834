//! The OpenAI model list (`GET /v1/models`) as vLLM, SGLang and llama.cpp answer it.

use crate::errors;
use crate::types::{Error, ModelInfo};
use serde_json::Value;

/// Reads `{"data":[{"id","owned_by","max_model_len"|"meta":{"n_ctx"}}]}`. A rare path: read
/// through `Value` rather than typed structs, to keep the component small.
pub fn parse(body: &[u8], backend: &str) -> Result<Vec<ModelInfo>, Error> {
    let malformed = |why: String| Error {
        body: Some(errors::kept_body(body)),
        ..Error::malformed(format!(
            "the model list from `{backend}` is not an OpenAI model list ({why})"
        ))
    };
    let list: Value = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let data = list
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("no `data` list".into()))?;
    data.iter()
        .map(|m| {
            let id = m
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("a model has no `id`".into()))?;
            // vLLM says max_model_len; llama.cpp puts its context size under meta.n_ctx.
            let len = m
                .get("max_model_len")
                .or_else(|| m.get("meta").and_then(|meta| meta.get("n_ctx")));
            Ok(ModelInfo {
                id: id.to_string(),
                backend: backend.to_string(),
                owned_by: m
                    .get("owned_by")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                max_model_len: len
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_servers_list_and_refuses_others() {
        let vllm = br#"{"object":"list","data":[{"id":"Qwen/Qwen3-8B","object":"model","owned_by":"vllm","max_model_len":32768}]}"#;
        let m = parse(vllm, "b").unwrap();
        assert_eq!(
            (
                m[0].id.as_str(),
                m[0].owned_by.as_deref(),
                m[0].max_model_len
            ),
            ("Qwen/Qwen3-8B", Some("vllm"), Some(32768))
        );
        let llama = br#"{"object":"list","data":[{"id":"g","object":"model","owned_by":"llamacpp","meta":{"n_ctx":4096}}]}"#;
        assert_eq!(parse(llama, "b").unwrap()[0].max_model_len, Some(4096));
        for bad in [&b"[]"[..], b"{}", br#"{"data":[{}]}"#, b"nope"] {
            let e = parse(bad, "b").unwrap_err();
            assert_eq!(e.code, crate::types::ErrorCode::MalformedResponse);
            assert!(e.message.contains("`b`"), "{}", e.message);
        }
    }
}
