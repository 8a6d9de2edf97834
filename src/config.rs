//! `client-config` validated into `Settings`: defaults resolved, URLs parsed, limits checked,
//! so the call paths never re-check configuration.

use crate::types::{BackendKind, ClientConfig, Error, RoutingStrategy};
use crate::url::BaseUrl;
use std::borrow::Cow;

/// Placeholder bearer key sent when a backend has none (AIOS sends the same).
pub const PLACEHOLDER_API_KEY: &str = "sk-1234";

/// A backend, ready to use.
#[derive(Clone)]
pub struct Backend {
    pub name: String,
    /// As configured; for `auto` the client builds requests for the detected family
    /// ([`Backend::resolved`]).
    pub kind: BackendKind,
    pub base: BaseUrl,
    /// Never printed: `Debug` shows only whether there is one.
    pub api_key: Option<String>,
    /// Configured models; empty = discover.
    pub models: Vec<String>,
    pub weight: u32,
    pub legacy_guided_decoding: bool,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base", &self.base)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("models", &self.models)
            .field("weight", &self.weight)
            .field("legacy_guided_decoding", &self.legacy_guided_decoding)
            .finish()
    }
}

impl Backend {
    /// The backend as requests are built for it: an `auto` backend takes the `detected`
    /// family (plain OpenAI-compatible until detection succeeds); others are unchanged.
    pub fn resolved(&self, detected: Option<BackendKind>) -> Cow<'_, Backend> {
        if self.kind != BackendKind::Auto {
            return Cow::Borrowed(self);
        }
        Cow::Owned(Backend {
            kind: detected.unwrap_or(BackendKind::OpenaiCompatible),
            ..self.clone()
        })
    }

    /// What a request body depends on: backends that share it are sent the same bytes.
    pub fn dialect(&self) -> (BackendKind, bool) {
        (self.kind, self.legacy_guided_decoding)
    }

    /// The `Authorization` header value.
    pub fn authorization(&self) -> String {
        format!(
            "Bearer {}",
            self.api_key.as_deref().unwrap_or(PLACEHOLDER_API_KEY)
        )
    }
}

/// Time limits in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub connect_ms: u64,
    pub first_byte_ms: u64,
    pub between_bytes_ms: u64,
    pub total_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetrySettings {
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    pub max_retry_after_ms: u64,
    /// Continue a stream on another backend when its backend fails mid-way.
    pub resume_streams: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CooldownSettings {
    pub base_ms: u64,
    pub max_ms: u64,
    pub probe_health: bool,
}

/// A validated client configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    pub backends: Vec<Backend>,
    pub default_model: Option<String>,
    pub timeouts: Timeouts,
    pub retry: RetrySettings,
    pub routing: RoutingStrategy,
    pub cooldown: CooldownSettings,
    pub discovery_ttl_ms: u64,
    pub metrics_ttl_ms: u64,
    pub max_response_bytes: u64,
    pub routing_seed: Option<u64>,
    /// `cache-aware` load margin.
    pub cache_aware_margin: u32,
    /// Header carrying a request's session id.
    pub session_header: String,
}

pub const DEFAULT_TIMEOUTS: Timeouts = Timeouts {
    connect_ms: 5_000,
    first_byte_ms: 600_000,
    between_bytes_ms: 60_000,
    total_ms: 600_000,
};
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

/// Validates a configuration; every problem is an `invalid-config` error naming the field.
pub fn validate(config: ClientConfig) -> Result<Settings, Error> {
    if config.backends.is_empty() {
        return Err(Error::invalid_config(
            "no backends configured: give at least one base URL",
        ));
    }
    let mut backends = Vec::with_capacity(config.backends.len());
    for (i, b) in config.backends.into_iter().enumerate() {
        let base = BaseUrl::parse(&b.base_url)
            .map_err(|why| Error::invalid_config(format!("backends[{i}]: {why}")))?;
        let name = match b.name {
            Some(n) if n.trim().is_empty() => {
                return Err(Error::invalid_config(format!(
                    "backends[{i}]: name is empty"
                )));
            }
            Some(n) => n,
            None => base.authority.clone(),
        };
        if backends.iter().any(|other: &Backend| other.name == name) {
            return Err(Error::invalid_config(format!(
                "backends[{i}]: name `{name}` is used twice; give each backend a distinct name"
            )));
        }
        if let Some(key) = &b.api_key {
            // A key with a newline would let a config inject headers.
            if key.is_empty() || key.chars().any(|c| c.is_control()) {
                return Err(Error::invalid_config(format!(
                    "backends[{i}] ({name}): api-key is empty or has control characters"
                )));
            }
        }
        if b.models.iter().any(|m| m.trim().is_empty()) {
            return Err(Error::invalid_config(format!(
                "backends[{i}] ({name}): a model name is empty"
            )));
        }
        let weight = b.weight.unwrap_or(1);
        if weight == 0 {
            return Err(Error::invalid_config(format!(
                "backends[{i}] ({name}): weight must be at least 1"
            )));
        }
        backends.push(Backend {
            name,
            kind: b.kind,
            base,
            api_key: b.api_key,
            models: b.models,
            weight,
            legacy_guided_decoding: b.legacy_guided_decoding.unwrap_or(false),
        });
    }
    if let Some(m) = &config.default_model
        && m.trim().is_empty()
    {
        return Err(Error::invalid_config("default-model is empty"));
    }

    let t = &config.timeouts;
    let timeouts = Timeouts {
        connect_ms: positive(
            "timeouts.connect-ms",
            t.connect_ms,
            DEFAULT_TIMEOUTS.connect_ms,
        )?,
        first_byte_ms: positive(
            "timeouts.first-byte-ms",
            t.first_byte_ms,
            DEFAULT_TIMEOUTS.first_byte_ms,
        )?,
        between_bytes_ms: positive(
            "timeouts.between-bytes-ms",
            t.between_bytes_ms,
            DEFAULT_TIMEOUTS.between_bytes_ms,
        )?,
        total_ms: positive("timeouts.total-ms", t.total_ms, DEFAULT_TIMEOUTS.total_ms)?,
    };

    let r = &config.retry;
    let retry = RetrySettings {
        max_attempts: positive("retry.max-attempts", r.max_attempts, 3)? as u32,
        initial_backoff_ms: u64::from(r.initial_backoff_ms.unwrap_or(500)),
        max_backoff_ms: u64::from(r.max_backoff_ms.unwrap_or(8_000)),
        max_retry_after_ms: u64::from(r.max_retry_after_ms.unwrap_or(60_000)),
        resume_streams: r.resume_streams.unwrap_or(true),
    };
    if retry.max_attempts > 100 {
        return Err(Error::invalid_config("retry.max-attempts is over 100"));
    }
    if retry.initial_backoff_ms > retry.max_backoff_ms {
        return Err(Error::invalid_config(
            "retry.initial-backoff-ms is larger than retry.max-backoff-ms",
        ));
    }

    let c = &config.cooldown;
    let cooldown = CooldownSettings {
        base_ms: u64::from(c.base_ms.unwrap_or(5_000)),
        max_ms: u64::from(c.max_ms.unwrap_or(60_000)),
        probe_health: c.probe_health.unwrap_or(false),
    };
    if cooldown.base_ms > cooldown.max_ms {
        return Err(Error::invalid_config(
            "cooldown.base-ms is larger than cooldown.max-ms",
        ));
    }

    let max_response_bytes = config
        .max_response_bytes
        .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES);
    if max_response_bytes < 1024 {
        return Err(Error::invalid_config(
            "max-response-bytes must be at least 1024",
        ));
    }

    let session_header = config
        .session_header
        .unwrap_or_else(|| "x-session-id".to_string())
        .to_ascii_lowercase();
    if session_header.is_empty()
        || !session_header
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Error::invalid_config(
            "session-header must be a header name (letters, digits, `-`, `_`)",
        ));
    }

    Ok(Settings {
        backends,
        default_model: config.default_model,
        timeouts,
        retry,
        routing: config.routing.unwrap_or(RoutingStrategy::Sequential),
        cooldown,
        discovery_ttl_ms: u64::from(config.discovery_ttl_ms.unwrap_or(300_000)),
        metrics_ttl_ms: u64::from(config.metrics_ttl_ms.unwrap_or(1_000)),
        max_response_bytes,
        routing_seed: config.routing_seed,
        cache_aware_margin: config.cache_aware_margin.unwrap_or(4),
        session_header,
    })
}

fn positive(field: &str, value: Option<u32>, default: u64) -> Result<u64, Error> {
    match value {
        Some(0) => Err(Error::invalid_config(format!("{field} must be at least 1"))),
        Some(v) => Ok(u64::from(v)),
        None => Ok(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{backend_config as backend, client_config as config};
    use crate::types::*;

    #[test]
    fn defaults_are_resolved() {
        let s = validate(config(vec![backend("http://127.0.0.1:8000/v1")])).unwrap();
        assert_eq!(s.backends[0].name, "127.0.0.1:8000");
        assert_eq!(s.backends[0].authorization(), "Bearer sk-1234");
        assert_eq!(s.timeouts, DEFAULT_TIMEOUTS);
        assert_eq!(s.retry.max_attempts, 3);
        assert_eq!(s.routing, RoutingStrategy::Sequential);
    }

    #[test]
    fn invalid_configs_are_refused_with_the_field_named() {
        let cases: Vec<(ClientConfig, &str)> = vec![
            (config(vec![]), "no backends"),
            (config(vec![backend("localhost:8000")]), "backends[0]"),
            (
                {
                    let mut c = config(vec![backend("http://a/v1")]);
                    c.timeouts.connect_ms = Some(0);
                    c
                },
                "timeouts.connect-ms",
            ),
            (
                {
                    let mut c = config(vec![backend("http://a/v1")]);
                    c.retry.max_attempts = Some(0);
                    c
                },
                "retry.max-attempts",
            ),
            (
                config(vec![backend("http://a/v1"), backend("http://a/v1")]),
                "used twice",
            ),
            (
                {
                    let mut b = backend("http://a/v1");
                    b.weight = Some(0);
                    config(vec![b])
                },
                "weight",
            ),
            (
                {
                    let mut b = backend("http://a/v1");
                    b.api_key = Some("sk\r\nX-Evil: 1".into());
                    config(vec![b])
                },
                "api-key",
            ),
        ];
        for (cfg, needle) in cases {
            let e = validate(cfg).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidConfig);
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
            assert!(!e.message.contains("X-Evil"), "key leaked: {}", e.message);
        }
    }

    #[test]
    fn debug_output_hides_the_key() {
        let mut b = backend("http://a/v1");
        b.api_key = Some("sk-secret-123".into());
        let text = format!("{:?}", validate(config(vec![b])).unwrap());
        assert!(!text.contains("sk-secret-123"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
}
