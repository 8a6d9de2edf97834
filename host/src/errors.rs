//! Host-side failures (traps, limits) as the same `error` record the component returns, so
//! callers handle one error type.

use crate::types::{Error, ErrorCode};

impl ErrorCode {
    /// The WIT case name (`context-length-exceeded`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            ErrorCode::InvalidConfig => "invalid-config",
            ErrorCode::InvalidRequest => "invalid-request",
            ErrorCode::Connection => "connection",
            ErrorCode::Timeout(_) => "timeout",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::UnknownModel(_) => "unknown-model",
            ErrorCode::ContextLengthExceeded => "context-length-exceeded",
            ErrorCode::RateLimited(_) => "rate-limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::HttpStatus => "http-status",
            ErrorCode::MalformedResponse => "malformed-response",
            ErrorCode::InvalidOutput => "invalid-output",
            ErrorCode::Truncated => "truncated",
            ErrorCode::Denied => "denied",
            ErrorCode::LimitExceeded => "limit-exceeded",
            ErrorCode::Internal => "internal",
        }
    }
}

/// A wasmtime failure: a trap or resource limit inside the component, or a host fault.
pub(crate) fn internal(context: &str, e: wasmtime::Error) -> Error {
    let text = format!("{e:?}");
    if text.contains("memory") && (text.contains("limit") || text.contains("grow")) {
        return Error::new(
            ErrorCode::LimitExceeded,
            format!("{context}: the component hit the host's memory limit (max_memory_bytes)"),
        );
    }
    if text.contains("CPU time") || text.contains("all fuel consumed") || text.contains("interrupt")
    {
        return Error::new(
            ErrorCode::LimitExceeded,
            format!("{context}: the component hit the host's CPU limit (max_cpu_time)"),
        );
    }
    if text.contains("concurrent limit") || text.contains("instance limit") {
        return Error::new(
            ErrorCode::LimitExceeded,
            format!("{context}: every instance slot of the host is in use (max_instances)"),
        );
    }
    Error::new(
        ErrorCode::Internal,
        // The root cause says what happened ("resource has children", "wasm trap: ..."); the
        // first line is only "error while executing".
        format!("{context}: {}", e.root_cause()),
    )
}
