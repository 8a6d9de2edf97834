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

use llm_core_host::types::*;
use serde::Deserialize;
use std::path::Path;

/// Loads a configuration file: `.yaml` / `.yml` is read as AIOS's `config.yaml`, anything
/// else as our TOML.
pub fn load(path: impl AsRef<Path>) -> Result<ClientConfig, Error> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    let result = match path.extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml") => from_aios_yaml(&text),
        _ => from_toml(&text),
    };
    result.map_err(|e| invalid(format!("{}: {}", path.display(), e.message)))
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidConfig, message)
}

/// A parser message with its double-quoted values blanked (`string "sk-…"` could be a
/// key); backticked field names stay, they say what to fix.
fn redact_quoted(message: &str) -> String {
    // A quote character named as such (expected `"`) is not a value.
    const NAMED_QUOTE: &str = "`\"`";
    let message = message.replace(NAMED_QUOTE, "\u{0}");
    let mut out = String::with_capacity(message.len());
    let mut parts = message.split('"');
    out.push_str(parts.next().unwrap_or_default());
    for (i, part) in parts.enumerate() {
        out.push('"');
        out.push_str(if i % 2 == 0 { "…" } else { part });
    }
    out.replace('\u{0}', NAMED_QUOTE)
}

#[derive(Deserialize)]
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

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileBackend {
    name: Option<String>,
    kind: String,
    base_url: String,
    api_key: Option<String>,
    api_key_env: Option<String>,
    #[serde(default)]
    models: Vec<String>,
    weight: Option<u32>,
    legacy_guided_decoding: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileTimeouts {
    connect_ms: Option<u32>,
    first_byte_ms: Option<u32>,
    between_bytes_ms: Option<u32>,
    total_ms: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileRetry {
    max_attempts: Option<u32>,
    initial_backoff_ms: Option<u32>,
    max_backoff_ms: Option<u32>,
    max_retry_after_ms: Option<u32>,
    resume_streams: Option<bool>,
}

#[derive(Deserialize, Default)]
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
            redact_quoted(e.message().trim())
        ))
    })?;
    let backends = file
        .backends
        .into_iter()
        .map(|b| {
            let api_key = match (b.api_key, b.api_key_env) {
                (Some(key), None) => Some(key),
                (None, Some(var)) => Some(
                    std::env::var(&var)
                        .map_err(|_| invalid(format!("api-key-env: ${var} is not set")))?,
                ),
                (None, None) => None,
                (Some(_), Some(_)) => {
                    return Err(invalid("give either api-key or api-key-env, not both"));
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

#[derive(Deserialize)]
struct AiosFile {
    llms: Option<AiosLlms>,
}

#[derive(Deserialize)]
struct AiosLlms {
    #[serde(default)]
    models: Vec<AiosModel>,
    router: Option<AiosRouter>,
}

#[derive(Deserialize)]
struct AiosModel {
    name: String,
    backend: String,
    hostname: Option<String>,
    api_key: Option<String>,
}

#[derive(Deserialize)]
struct AiosRouter {
    strategy: Option<String>,
}

/// AIOS's `config.yaml`: `llms.models` entries `{name, backend: vllm|sglang, hostname}` on
/// the same host and backend become one backend serving those models; the same model on
/// several hosts is routed among them. Entries of other backends (openai, gemini, ollama,
/// huggingface, ...) are not served by this core and are skipped. `router.strategy`:
/// `sequential` as documented by AIOS (round-robin); `smart` (cost/quality model selection
/// from a vector store) is not implemented and is refused.
pub fn from_aios_yaml(text: &str) -> Result<ClientConfig, Error> {
    let file: AiosFile = serde_yaml_ng::from_str(text).map_err(|e| {
        invalid(format!(
            "not an AIOS config.yaml: {}",
            redact_quoted(&e.to_string())
        ))
    })?;
    let llms = file.llms.ok_or_else(|| invalid("no `llms:` section"))?;
    // One backend per (kind, host); each model entry adds its name to its host's backend.
    let mut backends: Vec<BackendConfig> = Vec::new();
    let mut default_model = None;
    for m in llms.models {
        let kind = match m.backend.as_str() {
            "vllm" => BackendKind::Vllm,
            "sglang" => BackendKind::Sglang,
            _ => continue,
        };
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
            Some(b) if m.api_key.is_some() && b.api_key.is_some() && b.api_key != m.api_key => {
                return Err(invalid(format!(
                    "model `{}`: {url} already has another api_key; one server takes one key",
                    m.name
                )));
            }
            Some(b) => {
                if b.api_key.is_none() {
                    b.api_key = m.api_key;
                }
                if !b.models.contains(&m.name) {
                    b.models.push(m.name);
                }
            }
            None => backends.push(BackendConfig {
                api_key: m.api_key,
                models: vec![m.name],
                ..BackendConfig::new(kind, url)
            }),
        }
    }
    if backends.is_empty() {
        return Err(invalid(
            "llms.models has no vllm or sglang entry with a hostname",
        ));
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
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_with_every_section() {
        let c = from_toml(
            r#"
            default-model = "m1"
            routing = "least-loaded"
            max-response-bytes = 1048576
            [timeouts]
            connect-ms = 1000
            total-ms = 30000
            [retry]
            max-attempts = 5
            [cooldown]
            base-ms = 100
            probe-health = true
            [[backends]]
            name = "a"
            kind = "vllm"
            base-url = "http://a:8000/v1"
            models = ["m1"]
            weight = 3
            [[backends]]
            kind = "sglang"
            base-url = "http://b:30000/v1"
            api-key = "k"
            "#,
        )
        .unwrap();
        assert_eq!(c.backends.len(), 2);
        assert_eq!(
            (c.backends[0].name.as_deref(), c.backends[0].weight),
            (Some("a"), Some(3))
        );
        assert_eq!(c.backends[1].kind, BackendKind::Sglang);
        assert_eq!(c.backends[1].api_key.as_deref(), Some("k"));
        assert_eq!(c.routing, Some(RoutingStrategy::LeastLoaded));
        assert_eq!(
            (
                c.timeouts.connect_ms,
                c.timeouts.total_ms,
                c.retry.max_attempts
            ),
            (Some(1000), Some(30000), Some(5))
        );
        assert_eq!(
            (c.cooldown.base_ms, c.cooldown.probe_health),
            (Some(100), Some(true))
        );
    }

    #[test]
    fn toml_mistakes_are_named() {
        for (text, needle) in [
            (
                "[[backends]]\nkind = \"vllm\"\nbase-url = \"http://a/v1\"\nbogus = 1",
                "bogus",
            ),
            (
                "[[backends]]\nkind = \"tgi\"\nbase-url = \"http://a/v1\"",
                "unknown backend kind `tgi`",
            ),
            (
                "routing = \"fastest\"\n[[backends]]\nkind = \"vllm\"\nbase-url = \"http://a/v1\"",
                "unknown routing",
            ),
            (
                "[[backends]]\nkind = \"vllm\"\nbase-url = \"http://a/v1\"\napi-key-env = \"LLM_CORE_TEST_UNSET_VAR\"",
                "is not set",
            ),
        ] {
            let e = from_toml(text).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidConfig);
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
        }
    }

    #[test]
    fn parse_errors_do_not_echo_keys() {
        let toml_cases = [
            "[[backends]]\nkind = \"vllm\"\nbase-url = \"http://a/v1\"\napi-key = sk-secret-123",
            "[[backends]]\nkind = \"vllm\"\nbase-url = \"http://a/v1\"\napi-key = [\"sk-secret-123\"]",
            "[[backends]]\nkind = \"vllm\"\nbase-url = \"http://a/v1\"\napi-key = \"sk-secret-123",
        ];
        for text in toml_cases {
            let e = from_toml(text).unwrap_err().message;
            assert!(!e.contains("secret"), "{e}");
            assert!(e.contains("line 4"), "{e}");
        }
        assert_eq!(
            redact_quoted(r#"invalid type: string "sk-1", expected `"`"#),
            r#"invalid type: string "…", expected `"`"#
        );
        let yaml_cases = [
            "llms:\n  models:\n    - {name: m, backend: vllm, hostname: 'http://a/v1', api_key: [\"sk-secret-123\"]}\n",
            "llms:\n  models: \"sk-secret-123\"\n",
        ];
        for text in yaml_cases {
            let e = from_aios_yaml(text).unwrap_err().message;
            assert!(!e.contains("secret"), "{e}");
        }
    }

    #[test]
    fn aios_config_yaml() {
        let c = from_aios_yaml(
            r#"
api_keys:
  openai: ""
llms:
  models:
    - name: "Qwen/Qwen2.5-7B-Instruct"
      backend: "vllm"
      hostname: "http://gpu-a:8091/v1"
    - name: "meta-llama/Llama-3.1-8B-Instruct"
      backend: "vllm"
      hostname: "http://gpu-a:8091/v1/"
    - name: "Qwen/Qwen2.5-7B-Instruct"
      backend: "sglang"
      hostname: "http://gpu-b:30000/v1"
      api_key: "k"
    - name: "gpt-4o-mini"
      backend: "openai"
  router:
    strategy: "sequential"
memory:
  memory_limit: 524288
"#,
        )
        .unwrap();
        assert_eq!(c.backends.len(), 2);
        assert_eq!(c.backends[0].base_url, "http://gpu-a:8091/v1");
        assert_eq!(
            c.backends[0].models,
            [
                "Qwen/Qwen2.5-7B-Instruct",
                "meta-llama/Llama-3.1-8B-Instruct"
            ]
        );
        assert_eq!(
            (c.backends[1].kind, c.backends[1].api_key.as_deref()),
            (BackendKind::Sglang, Some("k"))
        );
        assert_eq!(c.default_model.as_deref(), Some("Qwen/Qwen2.5-7B-Instruct"));
        assert_eq!(c.routing, Some(RoutingStrategy::Sequential));
        let e = from_aios_yaml("llms:\n  models:\n    - {name: m, backend: vllm, hostname: 'http://a/v1'}\n  router: {strategy: smart}\n").unwrap_err();
        assert!(e.message.contains("smart"), "{}", e.message);
        let two_keys = "llms:\n  models:\n    - {name: m, backend: vllm, hostname: 'http://a/v1', api_key: k1}\n    - {name: n, backend: vllm, hostname: 'http://a/v1', api_key: k2}\n";
        let e = from_aios_yaml(two_keys).unwrap_err().message;
        assert!(
            e.contains("another api_key") && !e.contains("k1") && !e.contains("k2"),
            "{e}"
        );
        let one_key = "llms:\n  models:\n    - {name: m, backend: vllm, hostname: 'http://a/v1'}\n    - {name: n, backend: vllm, hostname: 'http://a/v1', api_key: k1}\n";
        let c = from_aios_yaml(one_key).unwrap();
        assert_eq!(
            (c.backends.len(), c.backends[0].api_key.as_deref()),
            (1, Some("k1"))
        );
        assert!(
            from_aios_yaml("llms:\n  models: []\n")
                .unwrap_err()
                .message
                .contains("no vllm or sglang")
        );
    }
}
