//! Constructors with the WIT defaults, so Rust callers write only what they mean.
// The generated types cannot `derive(Default)` as a group (WIT enums have no default
// case), so the record defaults are written out here.
#![allow(clippy::derivable_impls)]

use crate::types::*;

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect_ms: None,
            first_byte_ms: None,
            between_bytes_ms: None,
            total_ms: None,
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: None,
            initial_backoff_ms: None,
            max_backoff_ms: None,
            max_retry_after_ms: None,
            resume_streams: None,
        }
    }
}

impl Default for CooldownPolicy {
    fn default() -> Self {
        CooldownPolicy {
            base_ms: None,
            max_ms: None,
            probe_health: None,
        }
    }
}

impl BackendConfig {
    /// A backend of `kind` at `base_url` (the OpenAI API root, e.g. `http://127.0.0.1:8000/v1`);
    /// no name, key or model list, weight 1.
    pub fn new(kind: BackendKind, base_url: impl Into<String>) -> BackendConfig {
        BackendConfig {
            name: None,
            kind,
            base_url: base_url.into(),
            api_key: None,
            models: Vec::new(),
            weight: None,
            legacy_guided_decoding: None,
        }
    }
}

impl ClientConfig {
    /// These backends, every other setting at its WIT default.
    pub fn new(backends: Vec<BackendConfig>) -> ClientConfig {
        ClientConfig {
            backends,
            default_model: None,
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
            routing: None,
            cooldown: CooldownPolicy::default(),
            discovery_ttl_ms: None,
            metrics_ttl_ms: None,
            max_response_bytes: None,
            routing_seed: None,
            cache_aware_margin: None,
            session_header: None,
        }
    }

    /// One backend, everything else default.
    pub fn single(kind: BackendKind, base_url: impl Into<String>) -> ClientConfig {
        ClientConfig::new(vec![BackendConfig::new(kind, base_url)])
    }
}

/// The request and error constructors, shared with the component (`src/defaults.rs`), so a
/// field added to the WIT is defaulted in one place.
mod shared {
    use crate::types;
    include!("../../src/defaults.rs");
}

/// A view of a client configuration for logs and error reports: its `Debug` shows every
/// setting but no key. The generated `Debug` of [`ClientConfig`] and [`BackendConfig`]
/// prints `api-key` (wasmtime's bindings derive it for every WIT record and offer no way to
/// hide a field), so log configurations through this, never directly.
pub struct Redacted<'a>(pub &'a ClientConfig);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backends: Vec<_> = self
            .0
            .backends
            .iter()
            .map(|b| {
                let mut b = b.clone();
                if b.api_key.is_some() {
                    b.api_key = Some("<redacted>".into());
                }
                b
            })
            .collect();
        let config = ClientConfig {
            backends,
            ..self.0.clone()
        };
        std::fmt::Debug::fmt(&config, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redacted_config_prints_everything_but_the_key() {
        let mut config = ClientConfig::single(BackendKind::Vllm, "http://127.0.0.1:8000/v1");
        config.backends[0].api_key = Some("sk-very-secret-1234".into());
        let shown = format!("{:?}", Redacted(&config));
        assert!(!shown.contains("sk-very-secret-1234"), "{shown}");
        assert!(
            shown.contains("<redacted>") && shown.contains("127.0.0.1:8000"),
            "{shown}"
        );
    }
}
