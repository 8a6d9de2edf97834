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
