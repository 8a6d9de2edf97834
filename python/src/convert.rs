//! JSON text in and out of the host's WIT types. Inputs come from the Python wrapper in the
//! CLI's shapes (requests and checkpoints as `request_json`/`checkpoint` read them, client
//! configurations as our TOML file or AIOS's config.yaml); outputs are the CLI's `--json`
//! renderings (`json.rs`), which the wrapper turns into dataclasses.

use crate::{checkpoint, config_file, json, request_json::RequestJson};
use llm_core_host::HostOptions;
use llm_core_host::types::*;
use pyo3::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

fn invalid_request(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidRequest, message)
}

fn invalid_config(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidConfig, message)
}

/// A client configuration, and the AIOS entries it skipped (`(model, backend)`), from
/// `kind`: `toml` (our file format, as text), `yaml` (AIOS's config.yaml, as text), `file`
/// (a path: `.yaml`/`.yml` is AIOS's format, anything else ours) or `json` (a dict with our
/// TOML's keys, as JSON text).
pub fn client_config(
    kind: &str,
    text: &str,
) -> Result<(ClientConfig, Vec<(String, String)>), Error> {
    let loaded = match kind {
        "toml" => config_file::from_toml(text).map(|config| config_file::Loaded {
            config,
            skipped: Vec::new(),
        }),
        "yaml" => config_file::from_aios_yaml(text),
        "file" => config_file::load(text),
        "json" => {
            let value: Value = serde_json::from_str(text)
                .map_err(|e| invalid_config(format!("not a configuration: {e}")))?;
            let toml = toml::to_string(&value)
                .map_err(|e| invalid_config(format!("not a configuration: {e}")))?;
            config_file::from_toml(&toml)
                .map_err(|mut e| {
                    // Positions in the TOML made from the dict mean nothing to its author.
                    if let Some((_, rest)) = e
                        .message
                        .split_once(": ")
                        .filter(|(at, _)| at.starts_with("line "))
                    {
                        e.message = rest.to_string();
                    }
                    e
                })
                .map(|config| config_file::Loaded {
                    config,
                    skipped: Vec::new(),
                })
        }
        other => {
            return Err(invalid_config(format!(
                "unknown configuration kind `{other}`"
            )));
        }
    }?;
    let skipped = loaded
        .skipped
        .into_iter()
        .map(|s| (s.model, s.backend))
        .collect();
    Ok((loaded.config, skipped))
}

/// The configuration as the wrapper shows it: every setting, keys replaced by a flag.
pub fn config_summary(c: &ClientConfig) -> Value {
    let backends: Vec<Value> = c
        .backends
        .iter()
        .map(|b| {
            json!({
                "name": b.name, "kind": backend_kind(b.kind), "base_url": b.base_url,
                "has_api_key": b.api_key.is_some(), "models": b.models, "weight": b.weight,
                "legacy_guided_decoding": b.legacy_guided_decoding,
            })
        })
        .collect();
    json!({
        "backends": backends,
        "default_model": c.default_model,
        "routing": c.routing.map(routing),
    })
}

fn backend_kind(k: BackendKind) -> &'static str {
    match k {
        BackendKind::Vllm => "vllm",
        BackendKind::Sglang => "sglang",
        BackendKind::OpenaiCompatible => "openai-compatible",
        BackendKind::Auto => "auto",
    }
}

fn routing(r: RoutingStrategy) -> &'static str {
    match r {
        RoutingStrategy::Sequential => "sequential",
        RoutingStrategy::LeastLoaded => "least-loaded",
        RoutingStrategy::Priority => "priority",
        RoutingStrategy::Weighted => "weighted",
        RoutingStrategy::CacheAware => "cache-aware",
    }
}

/// Checks a configuration without opening a client: `{"config": summary, "skipped":
/// [[model, backend]]}` as JSON text.
#[pyfunction]
pub fn parse_config(kind: &str, text: &str) -> PyResult<String> {
    let (config, skipped) = client_config(kind, text).map_err(|e| crate::runtime::py_error(&e))?;
    Ok(json!({"config": config_summary(&config), "skipped": skipped}).to_string())
}

/// A chat request from the JSON the wrapper builds (the request of a checkpoint file).
pub fn request(text: &str) -> Result<ChatRequest, Error> {
    let r: RequestJson =
        serde_json::from_str(text).map_err(|e| invalid_request(format!("request: {e}")))?;
    ChatRequest::try_from(r).map_err(|e| invalid_request(format!("request.{e}")))
}

/// A checkpoint from its JSON text (the CLI's checkpoint file format).
pub fn checkpoint(text: &str) -> Result<Checkpoint, Error> {
    checkpoint::from_json(text).map_err(invalid_request)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbedJson {
    inputs: Vec<String>,
    model: Option<String>,
    dimensions: Option<u32>,
    batch_size: Option<u32>,
    timeout_ms: Option<u32>,
}

/// An embedding request: `{"inputs", "model"?, "dimensions"?, "batch_size"?, "timeout_ms"?}`.
pub fn embed_request(text: &str) -> Result<EmbedRequest, Error> {
    let e: EmbedJson =
        serde_json::from_str(text).map_err(|e| invalid_request(format!("embed request: {e}")))?;
    Ok(EmbedRequest {
        inputs: e.inputs,
        model: e.model,
        dimensions: e.dimensions,
        batch_size: e.batch_size,
        timeout_ms: e.timeout_ms,
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HostJson {
    allowed_origins: Option<Vec<String>>,
    max_concurrent_calls: Option<usize>,
    max_memory_bytes: Option<usize>,
    max_response_bytes: Option<u64>,
    max_timeout_ms: Option<u64>,
    max_call_duration_ms: Option<u64>,
    queue_timeout_ms: Option<u64>,
    max_cpu_time_ms: Option<u64>,
    extra_root_certificates: Option<Vec<PathBuf>>,
}

/// The host's limits: the defaults of [`HostOptions`], overridden by what the JSON names.
pub fn host_options(text: &str) -> Result<HostOptions, Error> {
    let h: HostJson =
        serde_json::from_str(text).map_err(|e| invalid_config(format!("host options: {e}")))?;
    let d = HostOptions::default();
    let ms = Duration::from_millis;
    Ok(HostOptions {
        allowed_origins: h.allowed_origins,
        max_concurrent_calls: h.max_concurrent_calls.unwrap_or(d.max_concurrent_calls),
        max_memory_bytes: h.max_memory_bytes.unwrap_or(d.max_memory_bytes),
        max_response_bytes: h.max_response_bytes.unwrap_or(d.max_response_bytes),
        max_timeout: h.max_timeout_ms.map_or(d.max_timeout, ms),
        max_call_duration: h.max_call_duration_ms.map_or(d.max_call_duration, ms),
        queue_timeout: h.queue_timeout_ms.map_or(d.queue_timeout, ms),
        max_cpu_time: h.max_cpu_time_ms.map_or(d.max_cpu_time, ms),
        extra_root_certificates: h.extra_root_certificates.unwrap_or_default(),
        ..d
    })
}

pub fn token_count(t: &TokenCount) -> Value {
    json!({"prompt_tokens": t.prompt_tokens, "max_model_len": t.max_model_len, "model": t.model, "backend": t.backend})
}

pub fn embeddings(e: &Embeddings) -> Value {
    json!({
        "vectors": e.vectors, "model": e.model, "usage": e.usage.as_ref().map(json::usage),
        "backend": e.backend, "attempts": e.attempts,
    })
}
