//! Client configuration files: our own TOML (field names as in the WIT `client-config`), and
//! the `llms:` section of AIOS's `config.yaml`, so AIOS users can point at the file they have.
//!
//! ```toml
//! default-model = "Qwen/Qwen3-8B"
//! routing = "least-loaded"          # sequential | least-loaded | priority | weighted
//! [timeouts]
//! total-ms = 120000
//! [[backends]]
//! name = "gpu-a"
//! kind = "vllm"                     # auto | vllm | sglang | openai-compatible
//! base-url = "http://gpu-a:8000/v1"
//! api-key-env = "GPU_A_KEY"         # the key is read from this environment variable
//! models = ["Qwen/Qwen3-8B"]
//! weight = 2
//! ```

use crate::secret::Secret;
use llm_core_host::types::*;
use serde::Deserialize;
use std::path::Path;

/// A configuration read from a file, and what the file held that this core does not serve.
pub struct Loaded {
    pub config: ClientConfig,
    /// AIOS `config.yaml` entries of other backends (openai, gemini, ollama, ...).
    pub skipped: Vec<Skipped>,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("config", &crate::secret::Redacted(&self.config))
            .field("skipped", &self.skipped)
            .finish()
    }
}

/// One `llms.models` entry left out, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub model: String,
    pub backend: String,
}

impl Skipped {
    /// `gpt-4o-mini (backend openai)`
    pub fn describe(&self) -> String {
        format!("{} (backend {})", self.model, self.backend)
    }
}

/// Loads a configuration file: `.yaml` / `.yml` is read as AIOS's `config.yaml`, anything
/// else as our TOML.
pub fn load(path: impl AsRef<Path>) -> Result<Loaded, Error> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    let result = match path.extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml") => from_aios_yaml(&text),
        _ => from_toml(&text).map(|config| Loaded {
            config,
            skipped: Vec::new(),
        }),
    };
    result.map_err(|e| invalid(format!("{}: {}", path.display(), e.message)))
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidConfig, message)
}

/// A parser message with the values it quotes blanked, since a value could be a key:
/// double-quoted text (`string "sk-…"`) always, backticked text (`integer `12345678``)
/// unless it names a field (`unknown field `bogus`, expected one of `name`, ...`) or is
/// punctuation (expected `"`). Field names stay: they say what to fix.
fn redact_values(message: &str) -> String {
    const KEEP_AFTER: [&str; 6] = ["field ", "key ", "one of ", ", ", "expected ", "or "];
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        let before = &rest[..open];
        out.push_str(before);
        let inner_start = open + 1;
        let Some(len) = rest[inner_start..].find(quote) else {
            // Unbalanced: blank everything after the quote.
            out.push(quote);
            out.push('…');
            return out;
        };
        let inner = &rest[inner_start..inner_start + len];
        let keep = quote == '`'
            && (KEEP_AFTER.iter().any(|k| out.ends_with(k))
                || !inner.chars().any(char::is_alphanumeric));
        out.push(quote);
        out.push_str(if keep { inner } else { "…" });
        out.push(quote);
        rest = &rest[inner_start + len + 1..];
    }
    out.push_str(rest);
    out
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileConfig {
    backends: Vec<FileBackend>,
    default_model: Option<String>,
    routing: Option<String>,
    #[serde(default)]
    timeouts: FileTimeouts,
    #[serde(default)]
    retry: FileRetry,
    #[serde(default)]
    cooldown: FileCooldown,
    discovery_ttl_ms: Option<u32>,
    metrics_ttl_ms: Option<u32>,
    max_response_bytes: Option<u64>,
    routing_seed: Option<u64>,
    cache_aware_margin: Option<u32>,
    session_header: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileBackend {
    name: Option<String>,
    kind: String,
    base_url: String,
    api_key: Option<Secret>,
    api_key_env: Option<String>,
    #[serde(default)]
    models: Vec<String>,
    weight: Option<u32>,
    legacy_guided_decoding: Option<bool>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileTimeouts {
    connect_ms: Option<u32>,
    first_byte_ms: Option<u32>,
    between_bytes_ms: Option<u32>,
    total_ms: Option<u32>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileRetry {
    max_attempts: Option<u32>,
    initial_backoff_ms: Option<u32>,
    max_backoff_ms: Option<u32>,
    max_retry_after_ms: Option<u32>,
    resume_streams: Option<bool>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileCooldown {
    base_ms: Option<u32>,
    max_ms: Option<u32>,
    probe_health: Option<bool>,
}

pub fn backend_kind(name: &str) -> Result<BackendKind, Error> {
    match name {
        "auto" => Ok(BackendKind::Auto),
        "vllm" => Ok(BackendKind::Vllm),
        "sglang" => Ok(BackendKind::Sglang),
        "openai-compatible" | "openai" | "llamacpp" | "llama.cpp" => {
            Ok(BackendKind::OpenaiCompatible)
        }
        other => Err(invalid(format!(
            "unknown backend kind `{other}` (auto, vllm, sglang or openai-compatible)"
        ))),
    }
}

pub fn routing_strategy(name: &str) -> Result<RoutingStrategy, Error> {
    match name {
        "sequential" | "round-robin" => Ok(RoutingStrategy::Sequential),
        "least-loaded" => Ok(RoutingStrategy::LeastLoaded),
        "priority" => Ok(RoutingStrategy::Priority),
        "weighted" => Ok(RoutingStrategy::Weighted),
        "cache-aware" => Ok(RoutingStrategy::CacheAware),
        other => Err(invalid(format!(
            "unknown routing `{other}` (sequential, least-loaded, priority, weighted or cache-aware)"
        ))),
    }
}

/// Our TOML format.
pub fn from_toml(text: &str) -> Result<ClientConfig, Error> {
    // Not the error's `Display`: it quotes the offending line, which may hold a key.
    let file: FileConfig = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        let before = text.get(..at).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        invalid(format!(
            "line {line}, column {column}: {}",
            redact_values(e.message().trim())
        ))
    })?;
    let backends = file
        .backends
        .into_iter()
        .map(|b| {
            // Named as the file names it: `name`, else its base URL.
            let which = format!("backend `{}`", b.name.as_deref().unwrap_or(&b.base_url));
            let api_key = match (b.api_key, b.api_key_env) {
                (Some(key), None) => Some(key.into_inner()),
                (None, Some(var)) => match std::env::var(&var) {
                    Ok(key) if !key.is_empty() => Some(key),
                    Ok(_) => {
                        return Err(invalid(format!(
                            "{which}: api-key-env: ${var} is empty; export {var}=<its key> or remove the api-key-env line"
                        )));
                    }
                    Err(_) => {
                        return Err(invalid(format!(
                            "{which}: api-key-env: ${var} is not set; export {var}=<its key> or remove the api-key-env line"
                        )));
                    }
                },
                (None, None) => None,
                (Some(_), Some(_)) => {
                    return Err(invalid(format!(
                        "{which}: give either api-key or api-key-env, not both"
                    )));
                }
            };
            Ok(BackendConfig {
                name: b.name,
                kind: backend_kind(&b.kind)?,
                base_url: b.base_url,
                api_key,
                models: b.models,
                weight: b.weight,
                legacy_guided_decoding: b.legacy_guided_decoding,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(ClientConfig {
        backends,
        default_model: file.default_model,
        timeouts: Timeouts {
            connect_ms: file.timeouts.connect_ms,
            first_byte_ms: file.timeouts.first_byte_ms,
            between_bytes_ms: file.timeouts.between_bytes_ms,
            total_ms: file.timeouts.total_ms,
        },
        retry: RetryPolicy {
            max_attempts: file.retry.max_attempts,
            initial_backoff_ms: file.retry.initial_backoff_ms,
            max_backoff_ms: file.retry.max_backoff_ms,
            max_retry_after_ms: file.retry.max_retry_after_ms,
            resume_streams: file.retry.resume_streams,
        },
        routing: file.routing.as_deref().map(routing_strategy).transpose()?,
        cooldown: CooldownPolicy {
            base_ms: file.cooldown.base_ms,
            max_ms: file.cooldown.max_ms,
            probe_health: file.cooldown.probe_health,
        },
        discovery_ttl_ms: file.discovery_ttl_ms,
        metrics_ttl_ms: file.metrics_ttl_ms,
        max_response_bytes: file.max_response_bytes,
        routing_seed: file.routing_seed,
        cache_aware_margin: file.cache_aware_margin,
        session_header: file.session_header,
    })
}

#[derive(Deserialize, Debug)]
struct AiosFile {
    llms: Option<AiosLlms>,
}

#[derive(Deserialize, Debug)]
struct AiosLlms {
    #[serde(default)]
    models: Vec<AiosModel>,
    router: Option<AiosRouter>,
}

#[derive(Deserialize, Debug)]
struct AiosModel {
    name: String,
    backend: String,
    hostname: Option<String>,
    api_key: Option<Secret>,
}

#[derive(Deserialize, Debug)]
struct AiosRouter {
    strategy: Option<String>,
}

/// AIOS's `config.yaml`: `llms.models` entries `{name, backend: vllm|sglang, hostname}` on
/// the same host and backend become one backend serving those models; the same model on
/// several hosts is routed among them. Entries of other backends (openai, gemini, ollama,
/// huggingface, ...) are not served by this core and are skipped. `router.strategy`:
/// `sequential` as documented by AIOS (round-robin); `smart` (cost/quality model selection
/// from a vector store) is not implemented and is refused.
pub fn from_aios_yaml(text: &str) -> Result<Loaded, Error> {
    let file: AiosFile = serde_yaml_ng::from_str(text).map_err(|e| {
        invalid(format!(
            "not an AIOS config.yaml: {}",
            redact_values(&e.to_string())
        ))
    })?;
    let llms = file.llms.ok_or_else(|| invalid("no `llms:` section"))?;
    // One backend per (kind, host); each model entry adds its name to its host's backend.
    let mut backends: Vec<BackendConfig> = Vec::new();
    let mut default_model = None;
    let mut skipped = Vec::new();
    for m in llms.models {
        let kind = match m.backend.as_str() {
            "vllm" => BackendKind::Vllm,
            "sglang" => BackendKind::Sglang,
            _ => {
                skipped.push(Skipped {
                    model: m.name,
                    backend: m.backend,
                });
                continue;
            }
        };
        let api_key = m.api_key.map(Secret::into_inner);
        let hostname = m.hostname.ok_or_else(|| {
            invalid(format!(
                "model `{}` ({}) has no hostname",
                m.name, m.backend
            ))
        })?;
        let url = hostname.trim_end_matches('/');
        default_model.get_or_insert_with(|| m.name.clone());
        match backends
            .iter_mut()
            .find(|b| b.kind == kind && b.base_url == url)
        {
            // One server has one key: entries that disagree cannot both be right.
            Some(b) if api_key.is_some() && b.api_key.is_some() && b.api_key != api_key => {
                return Err(invalid(format!(
                    "model `{}`: {url} already has another api_key; one server takes one key",
                    m.name
                )));
            }
            Some(b) => {
                if b.api_key.is_none() {
                    b.api_key = api_key;
                }
                if !b.models.contains(&m.name) {
                    b.models.push(m.name);
                }
            }
            None => backends.push(BackendConfig {
                api_key,
                models: vec![m.name],
                ..BackendConfig::new(kind, url)
            }),
        }
    }
    if backends.is_empty() {
        let others = if skipped.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = skipped.iter().map(Skipped::describe).collect();
            format!(" (skipped: {})", list.join(", "))
        };
        return Err(invalid(format!(
            "llms.models has no vllm or sglang entry; llm-core serves only those{others}"
        )));
    }
    let routing = match llms.router.and_then(|r| r.strategy).as_deref() {
        None | Some("sequential") => RoutingStrategy::Sequential,
        Some("smart") => {
            return Err(invalid(
                "router.strategy `smart` (AIOS's cost/quality model selection) is not supported; use `sequential`",
            ));
        }
        Some(other) => routing_strategy(other)?,
    };
    let mut config = ClientConfig::new(backends);
    config.default_model = default_model;
    config.routing = Some(routing);
    Ok(Loaded { config, skipped })
}

#[cfg(test)]
mod tests;
