//! Building `error` records: constructors for each kind, and the rules for what of a server's
//! body an error keeps (capped, cut at a character boundary).

use crate::types::{ChatResponse, Error, ErrorCode, TimeoutKind};

/// Largest server body kept in an error (the rest is cut at a char boundary).
pub const MAX_ERROR_BODY: usize = 64 * 1024;

impl Error {
    /// The configuration is unusable.
    pub fn invalid_config(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::InvalidConfig, message)
    }

    /// The request is unusable.
    pub fn invalid_request(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::InvalidRequest, message)
    }

    /// The server's 2xx answer is not what the API promises.
    pub fn malformed(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::MalformedResponse, message)
    }

    /// A time limit ran out.
    pub fn timeout(kind: TimeoutKind, message: impl Into<String>) -> Error {
        Error::new(ErrorCode::Timeout(kind), message)
    }

    /// The same error, keeping what was received.
    pub fn with_partial(mut self, partial: ChatResponse) -> Error {
        self.partial = Some(partial);
        self
    }
}

/// Cuts at a char boundary at or below `max` bytes.
pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The body as kept in an error: lossy UTF-8, capped at [`MAX_ERROR_BODY`].
pub fn kept_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    truncate(&text, MAX_ERROR_BODY).to_string()
}

/// The answer grew past `max-response-bytes`.
pub fn too_large(max: u64) -> Error {
    Error::new(
        ErrorCode::LimitExceeded,
        format!("the answer is larger than max-response-bytes ({max} bytes)"),
    )
}

/// The call's whole-call deadline passed.
pub fn total_timeout() -> Error {
    Error::timeout(TimeoutKind::Total, "the call's total time limit ran out")
}
