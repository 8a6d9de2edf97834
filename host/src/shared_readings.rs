//! One `/metrics` read per server for all of a client's instances.
//!
//! `least-loaded` and `cache-aware` read each server's `/metrics` before a pick once a
//! reading is older than `metrics-ttl-ms`, and every component instance keeps its own
//! readings: a client with 256 instances over 64 servers sent up to 256 × 64 reads per TTL,
//! which made them 4–17× slower than `sequential` in the simulated fleet, and sometimes a
//! storm of connections (BENCHMARKS.md). The host sees every request, so it answers a
//! `/metrics` GET from the answer another instance of the same client got moments ago
//! (within the window [`window_for`] sets per strategy), and lets only one instance
//! at a time ask a given server. The guest still decides everything; a reading is at most
//! the window older than it thinks.

use crate::types::{ClientConfig, RoutingStrategy};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

/// How long a client's instances share a `/metrics` answer: under `cache-aware` a quarter
/// of the time a reading is trusted (`metrics-ttl-ms`, default 1 s), since there loads only
/// bound a session's home; under `least-loaded` a twentieth, since every instance picks the
/// least loaded server of the snapshot it holds, and one snapshot shared for long sends them
/// all to the same server (a quarter: max ÷ mean calls per server 1.95–2.06 in the
/// simulated fleet; a twentieth: 1.30–1.38). Other strategies read `/metrics` only for
/// `health`, which gets its own.
pub(crate) fn window_for(config: &ClientConfig) -> Duration {
    let ttl_ms = u64::from(config.metrics_ttl_ms.unwrap_or(1_000));
    match config.routing {
        Some(RoutingStrategy::CacheAware) => Duration::from_millis(ttl_ms / 4),
        Some(RoutingStrategy::LeastLoaded) => Duration::from_millis(ttl_ms / 20),
        _ => Duration::ZERO,
    }
}

/// Largest `/metrics` answer kept (vLLM's are tens of KiB); a larger one is passed on, not kept.
const MAX_KEPT: usize = 512 << 10;
/// Distinct `/metrics` URLs remembered (a client has one per backend); past it all are
/// forgotten, a bound rather than a policy.
const MAX_ENTRIES: usize = 64;

/// A kept answer.
#[derive(Clone)]
struct Kept {
    at: Instant,
    status: http::StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

/// A `/metrics` URL and the `authorization` header sent to it.
type Key = (String, Vec<u8>);
/// One URL's last answer, locked while an instance asks the server.
type Slot = Arc<tokio::sync::Mutex<Option<Kept>>>;

/// A client's shared `/metrics` answers, by URL and credentials.
pub(crate) struct SharedReadings {
    window: Duration,
    /// Each URL's last answer; its lock is held while one instance asks the server.
    entries: Mutex<HashMap<Key, Slot>>,
}

impl SharedReadings {
    /// Shares answers for `window` (a quarter of the client's `metrics-ttl-ms`).
    pub fn new(window: Duration) -> SharedReadings {
        SharedReadings {
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `request` is a `/metrics` read this sharing applies to.
    pub fn applies_to<B>(&self, request: &http::Request<B>) -> bool {
        !self.window.is_zero()
            && request.method() == http::Method::GET
            && request.uri().path().ends_with("/metrics")
    }

    /// The answer to `request`: a kept one younger than the window, else `fetch`'s (kept
    /// when it is a 2xx of at most [`MAX_KEPT`] bytes).
    pub async fn answer<F>(
        &self,
        request: http::Request<WasiBody>,
        fetch: impl FnOnce(http::Request<WasiBody>) -> F,
    ) -> Result<http::Response<WasiBody>, HttpError>
    where
        F: Future<Output = Result<http::Response<WasiBody>, HttpError>>,
    {
        let key = (
            request.uri().to_string(),
            request
                .headers()
                .get(http::header::AUTHORIZATION)
                .map(|v| v.as_bytes().to_vec())
                .unwrap_or_default(),
        );
        let slot = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
                entries.clear();
            }
            entries.entry(key).or_default().clone()
        };
        let mut kept = slot.lock().await;
        if let Some(k) = kept.as_ref().filter(|k| k.at.elapsed() < self.window) {
            return Ok(respond(k.clone()));
        }
        let response = fetch(request).await?;
        let (parts, body) = response.into_parts();
        if !parts.status.is_success() {
            return Ok(http::Response::from_parts(parts, body));
        }
        // Whole (the host's response cap bounds it); a silent or cut server's error passes on.
        let body = body.collect().await?.to_bytes();
        let answer = Kept {
            at: Instant::now(),
            status: parts.status,
            headers: parts.headers,
            body,
        };
        if answer.body.len() <= MAX_KEPT {
            *kept = Some(answer.clone());
        }
        Ok(respond(answer))
    }
}

fn respond(k: Kept) -> http::Response<WasiBody> {
    let mut response = http::Response::new(
        Full::new(k.body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = k.status;
    *response.headers_mut() = k.headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn get(uri: &str, key: &str) -> http::Request<WasiBody> {
        http::Request::get(uri)
            .header(http::header::AUTHORIZATION, key)
            .body(
                Full::new(Bytes::new())
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )
            .unwrap()
    }

    async fn text(r: http::Response<WasiBody>) -> String {
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn one_read_per_window_and_credentials() {
        let shared = SharedReadings::new(Duration::from_millis(200));
        let asked = AtomicUsize::new(0);
        let fetch = |_req| {
            let n = asked.fetch_add(1, Ordering::SeqCst);
            async move { Ok(respond_text(&format!("load {n}"))) }
        };
        let url = "http://a:8000/metrics";
        assert!(shared.applies_to(&get(url, "Bearer k")));
        assert!(!shared.applies_to(&get("http://a:8000/v1/models", "Bearer k")));
        for _ in 0..3 {
            let r = shared.answer(get(url, "Bearer k"), fetch).await.unwrap();
            assert_eq!(text(r).await, "load 0");
        }
        // Other credentials: their own read.
        let r = shared
            .answer(get(url, "Bearer other"), fetch)
            .await
            .unwrap();
        assert_eq!(text(r).await, "load 1");
        tokio::time::sleep(Duration::from_millis(250)).await;
        let r = shared.answer(get(url, "Bearer k"), fetch).await.unwrap();
        assert_eq!(text(r).await, "load 2", "read again after the window");
        assert_eq!(asked.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn failures_are_not_kept() {
        let shared = SharedReadings::new(Duration::from_secs(60));
        let asked = AtomicUsize::new(0);
        let url = "http://a:8000/metrics";
        let failing = |_req| {
            asked.fetch_add(1, Ordering::SeqCst);
            async { Err(HttpError::ConnectionRefused) }
        };
        assert!(shared.answer(get(url, ""), failing).await.is_err());
        assert!(shared.answer(get(url, ""), failing).await.is_err());
        let refused = |_req| {
            asked.fetch_add(1, Ordering::SeqCst);
            async {
                let mut r = respond_text("busy");
                *r.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                Ok(r)
            }
        };
        let r = shared.answer(get(url, ""), refused).await.unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(text(r).await, "busy");
        shared.answer(get(url, ""), refused).await.unwrap();
        assert_eq!(asked.load(Ordering::SeqCst), 4);
    }

    fn respond_text(s: &str) -> http::Response<WasiBody> {
        respond(Kept {
            at: Instant::now(),
            status: http::StatusCode::OK,
            headers: http::HeaderMap::new(),
            body: Bytes::from(s.to_string()),
        })
    }
}
