//! Host-side failures (traps, limits) as the same `error` record the component returns, so
//! callers handle one error type.

use crate::limits::{CpuLimit, MemoryLimit};
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

/// A wasmtime failure — a trap or resource limit inside the component, or a host fault —
/// told apart by the error's type: the CPU meter's [`CpuLimit`], the memory limiter's
/// [`MemoryLimit`] (or its record that a growth was refused: `memory`), the pooling
/// allocator's `PoolConcurrencyLimitError`; anything else is `internal`.
pub(crate) fn from_wasmtime(
    context: &str,
    e: wasmtime::Error,
    memory: Option<MemoryLimit>,
) -> Error {
    if let Some(cpu) = e.downcast_ref::<CpuLimit>() {
        return Error::new(
            ErrorCode::LimitExceeded,
            format!("{context}: the component hit the host's CPU limit: {cpu}"),
        );
    }
    if let Some(mem) = e.downcast_ref::<MemoryLimit>().or(memory.as_ref()) {
        return Error::new(
            ErrorCode::LimitExceeded,
            format!("{context}: the component hit the host's memory limit: {mem}"),
        );
    }
    if let Some(pool) = e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
        return Error::new(
            ErrorCode::LimitExceeded,
            format!("{context}: every instance slot of the host is in use (max_instances): {pool}"),
        );
    }
    Error::new(
        ErrorCode::Internal,
        // The root cause says what happened ("resource has children", "wasm trap: ..."); the
        // first line is only "error while executing".
        format!("{context}: {}", e.root_cause()),
    )
}

/// A call the host stopped at [`crate::HostOptions::max_call_duration`].
pub(crate) fn call_too_long(limit: std::time::Duration) -> Error {
    Error::new(
        ErrorCode::Timeout(crate::types::TimeoutKind::Total),
        format!(
            "the call took longer than the host allows ({} ms, max_call_duration)",
            limit.as_millis()
        ),
    )
}

/// A host fault outside any store (engine creation, compiling, linking): `internal`.
pub(crate) fn internal(context: &str, e: wasmtime::Error) -> Error {
    from_wasmtime(context, e, None)
}
