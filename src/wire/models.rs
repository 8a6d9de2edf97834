//! The OpenAI model list (`GET /v1/models`) as vLLM, SGLang and llama.cpp answer it.

use crate::errors;
use crate::types::{BackendKind, Error, ModelInfo};
use crate::wire::bounded::{Bounded, JsonText};
use serde::Deserialize;

/// The most models one list may name; the rest are skipped (no server serves more).
pub const MAX_MODELS: usize = 1024;

#[derive(Deserialize)]
struct List {
    data: Option<Bounded<Model, MAX_MODELS>>,
}

#[derive(Deserialize)]
struct Model {
    id: Option<String>,
    owned_by: Option<String>,
    max_model_len: Option<JsonText>,
    meta: Option<Meta>,
}

#[derive(Deserialize)]
struct Meta {
    n_ctx: Option<JsonText>,
}

/// Reads `{"data":[{"id","owned_by","max_model_len"|"meta":{"n_ctx"}}]}` (typed and bounded:
/// a hostile list cannot make the component allocate more than its text).
pub fn parse(body: &[u8], backend: &str) -> Result<Vec<ModelInfo>, Error> {
    let malformed = |why: String| Error {
        body: Some(errors::kept_body(body)),
        ..Error::malformed(format!(
            "the model list from `{backend}` is not an OpenAI model list ({why})"
        ))
    };
    let list: List = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let data = list
        .data
        .ok_or_else(|| malformed("no `data` list".into()))?;
    data.items
        .into_iter()
        .map(|m| {
            let id =
                m.id.ok_or_else(|| malformed("a model has no `id`".into()))?;
            // vLLM says max_model_len; llama.cpp puts its context size under meta.n_ctx.
            let len = m.max_model_len.or(m.meta.and_then(|meta| meta.n_ctx));
            Ok(ModelInfo {
                id,
                backend: backend.to_string(),
                owned_by: m.owned_by,
                max_model_len: len.and_then(|n| n.0.parse::<u32>().ok()),
            })
        })
        .collect()
}

/// The server family a model list reveals: vLLM and SGLang name themselves in `owned_by`;
/// llama.cpp (`llamacpp`) and anything else speak the plain OpenAI dialect.
pub fn family(models: &[ModelInfo]) -> BackendKind {
    let owners = models.iter().filter_map(|m| m.owned_by.as_deref());
    for owner in owners {
        match owner.to_ascii_lowercase().as_str() {
            "vllm" => return BackendKind::Vllm,
            "sglang" => return BackendKind::Sglang,
            _ => {}
        }
    }
    BackendKind::OpenaiCompatible
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
        assert_eq!(family(&m), BackendKind::Vllm);
        let sglang = br#"{"data":[{"id":"q","owned_by":"sglang"}]}"#;
        assert_eq!(family(&parse(sglang, "b").unwrap()), BackendKind::Sglang);
        assert_eq!(
            family(&parse(llama, "b").unwrap()),
            BackendKind::OpenaiCompatible
        );
        let many = format!(r#"{{"data":[{}]}}"#, vec![r#"{"id":"m"}"#; 5000].join(","));
        assert_eq!(parse(many.as_bytes(), "b").unwrap().len(), MAX_MODELS);
        for bad in [&b"[]"[..], b"{}", br#"{"data":[{}]}"#, b"nope"] {
            let e = parse(bad, "b").unwrap_err();
            assert_eq!(e.code, crate::types::ErrorCode::MalformedResponse);
            assert!(e.message.contains("`b`"), "{}", e.message);
        }
    }
}
