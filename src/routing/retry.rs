//! When to retry and how long to wait: openai-python's policy (retry connection errors,
//! timeouts, 408, 409, 429, 5xx; backoff `min(initial * 2^n, max)` minus up to 25% jitter;
//! honour `retry-after-ms` / `retry-after` up to a cap; `x-should-retry` overrides).

use crate::config::RetrySettings;
use crate::types::{Error, ErrorCode, TimeoutKind};

/// True when another attempt may succeed.
pub fn is_retryable(e: &Error, should_retry: Option<bool>) -> bool {
    if let Some(forced) = should_retry {
        return forced;
    }
    match &e.code {
        ErrorCode::Connection | ErrorCode::RateLimited(_) | ErrorCode::Unavailable => true,
        ErrorCode::Timeout(kind) => *kind != TimeoutKind::Total,
        // No status: an error event inside a 200 stream, i.e. the server failed mid-answer.
        ErrorCode::HttpStatus => e.status.is_none_or(|s| s == 408 || s == 409 || s >= 500),
        _ => false,
    }
}

/// True when the failure says the backend is unwell (enters cooldown): connection errors,
/// timeouts, 5xx and 429 — not the caller's own mistakes.
pub fn is_backend_failure(e: &Error) -> bool {
    match &e.code {
        ErrorCode::Connection | ErrorCode::RateLimited(_) | ErrorCode::Unavailable => true,
        ErrorCode::Timeout(kind) => *kind != TimeoutKind::Total,
        ErrorCode::HttpStatus => e.status.is_none_or(|s| s >= 500),
        _ => false,
    }
}

/// `x-should-retry: true|false`.
pub fn should_retry(header: Option<&str>) -> Option<bool> {
    match header?.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// The server's requested wait in ms, from `retry-after-ms` (float ms) or `retry-after`
/// (seconds, or an HTTP date compared with `now_unix_s`).
pub fn retry_after_ms(
    retry_after_ms: Option<&str>,
    retry_after: Option<&str>,
    now_unix_s: u64,
) -> Option<u64> {
    if let Some(ms) = retry_after_ms.and_then(|v| v.trim().parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(ms as u64);
    }
    let value = retry_after?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then_some((secs * 1000.0) as u64);
    }
    let at = http_date(value)?;
    Some(at.saturating_sub(now_unix_s).saturating_mul(1000))
}

/// Exponential backoff before retry number `n` (0-based); `jitter` in [0, 1).
pub fn backoff_ms(n: u32, s: &RetrySettings, jitter: f64) -> u64 {
    let exp = s.initial_backoff_ms.saturating_mul(1u64 << n.min(32));
    let base = exp.min(s.max_backoff_ms);
    base - (base as f64 * 0.25 * jitter.clamp(0.0, 1.0)) as u64
}

/// How long to wait before retry `n`: the server's wish if it gave one (`None` when it asks
/// for longer than the cap: do not retry), else the backoff.
pub fn wait_ms(n: u32, s: &RetrySettings, server_wish_ms: Option<u64>, jitter: f64) -> Option<u64> {
    match server_wish_ms {
        Some(w) if w > s.max_retry_after_ms => None,
        Some(w) => Some(w),
        None => Some(backoff_ms(n, s, jitter)),
    }
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) into Unix seconds.
pub fn http_date(text: &str) -> Option<u64> {
    let rest = text.split_once(", ").map_or(text, |(_, r)| r);
    let mut parts = rest.split_whitespace();
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT"
        || !(1..=31).contains(&day)
        || !(1970..=9999).contains(&year)
        || h > 23
        || m > 59
        || s > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day as i64);
    u64::try_from(days)
        .ok()
        .map(|d| d * 86_400 + h * 3600 + m * 60 + s) // years 1970..=9999: no overflow
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: RetrySettings = RetrySettings {
        max_attempts: 3,
        initial_backoff_ms: 500,
        max_backoff_ms: 8000,
        max_retry_after_ms: 60_000,
        resume_streams: true,
    };

    #[test]
    fn retryable_codes() {
        let status = |s| Error {
            status: Some(s),
            ..Error::new(ErrorCode::HttpStatus, "")
        };
        assert!(is_retryable(&status(500), None));
        assert!(is_retryable(&status(408), None));
        assert!(is_retryable(&status(409), None));
        assert!(!is_retryable(&status(400), None));
        assert!(!is_retryable(&status(422), None));
        assert!(is_retryable(
            &Error::new(ErrorCode::RateLimited(None), ""),
            None
        ));
        assert!(!is_retryable(
            &Error::new(ErrorCode::Unauthorized, ""),
            None
        ));
        assert!(!is_retryable(
            &Error::new(ErrorCode::UnknownModel(vec![]), ""),
            None
        ));
        assert!(!is_retryable(&Error::invalid_request(""), None));
        assert!(is_retryable(
            &Error::timeout(TimeoutKind::Connect, ""),
            None
        ));
        assert!(!is_retryable(&Error::timeout(TimeoutKind::Total, ""), None));
        assert!(!is_retryable(&status(500), Some(false)));
        assert!(is_retryable(&status(400), Some(true)));
        assert!(!is_backend_failure(&status(409)));
        // An error event inside a 200 stream carries no status: the server failed.
        let event = Error::new(ErrorCode::HttpStatus, "stream error");
        assert!(is_retryable(&event, None));
        assert!(is_backend_failure(&event));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(retry_after_ms(Some("250.5"), Some("9"), 0), Some(250));
        assert_eq!(retry_after_ms(None, Some("1"), 0), Some(1000));
        assert_eq!(retry_after_ms(None, Some("0.5"), 0), Some(500));
        assert_eq!(
            http_date("Sun, 06 Nov 9223372036854775807 08:49:37 GMT"),
            None
        );
        let now = http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(now, 784_111_777);
        assert_eq!(
            retry_after_ms(None, Some("Sun, 06 Nov 1994 08:49:40 GMT"), now),
            Some(3000)
        );
        assert_eq!(
            retry_after_ms(None, Some("Sun, 06 Nov 1994 08:49:30 GMT"), now),
            Some(0)
        );
        assert_eq!(retry_after_ms(None, Some("soon"), now), None);
        assert_eq!(retry_after_ms(Some("-1"), None, 0), None);
        assert_eq!(should_retry(Some("true")), Some(true));
        assert_eq!(should_retry(Some("maybe")), None);
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        assert_eq!(backoff_ms(0, &S, 0.0), 500);
        assert_eq!(backoff_ms(1, &S, 0.0), 1000);
        assert_eq!(backoff_ms(4, &S, 0.0), 8000);
        assert_eq!(backoff_ms(60, &S, 0.0), 8000);
        assert_eq!(backoff_ms(0, &S, 0.999_999), 376);
        assert_eq!(wait_ms(0, &S, Some(1000), 0.5), Some(1000));
        assert_eq!(wait_ms(0, &S, Some(120_000), 0.5), None);
    }
}
