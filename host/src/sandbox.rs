//! What the guest may reach: outgoing HTTP only to allowed origins (`scheme://host:port`),
//! with the host's caps on timeouts and response size. Everything else the guest asks for
//! is answered `HttpRequestDenied`, which reaches the caller as the `denied` error.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// Origins the guest may send requests to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowlist {
    origins: Vec<String>,
}

impl Allowlist {
    /// From URLs or origins (`http://127.0.0.1:8000/v1`, `https://gpu-box`); paths are
    /// ignored; entries that are not http(s) URLs are skipped.
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(urls: I) -> Allowlist {
        let mut origins: Vec<String> = urls
            .into_iter()
            .filter_map(|u| origin_of(u.as_ref()))
            .collect();
        origins.sort();
        origins.dedup();
        Allowlist { origins }
    }

    pub fn permits(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == origin)
    }

    pub fn origins(&self) -> &[String] {
        &self.origins
    }
}

/// `scheme://host:port` with the default port made explicit, lower-cased; `None` for
/// anything that is not an http(s) URL.
pub fn origin_of(url: &str) -> Option<String> {
    let uri: http::Uri = url.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let port = authority.port_u16().unwrap_or(default_port);
    Some(format!(
        "{scheme}://{}:{port}",
        authority.host().to_ascii_lowercase()
    ))
}

/// Host-side limits on one guest's HTTP traffic.
#[derive(Clone, Debug)]
pub struct HttpLimits {
    /// Largest response body passed to the guest.
    pub max_response_bytes: u64,
    /// Upper bound on each timeout the guest may request.
    pub max_timeout: Duration,
}

/// The `send_request` hook of one store.
pub(crate) struct SandboxHooks {
    pub(crate) allow: Arc<Allowlist>,
    pub(crate) limits: HttpLimits,
    pub(crate) sender: Arc<crate::transport::Transport>,
    /// `/metrics` answers shared by the client's instances.
    pub(crate) readings: Arc<crate::shared_readings::SharedReadings>,
    /// The requests of the current call, for errors the host raises itself.
    pub(crate) log: crate::received::CallLog,
}

impl WasiHttpHooks for SandboxHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                    ),
                    HttpError,
                >,
            > + Send,
    > {
        let origin = origin_of(&request.uri().to_string());
        if !origin.as_deref().is_some_and(|o| self.allow.permits(o)) {
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        self.log.requests = self.log.requests.saturating_add(1);
        let uri = request.uri();
        self.log.last_url = Some(format!(
            "{}://{}{}",
            uri.scheme_str().unwrap_or("http"),
            uri.authority().map_or("", |a| a.as_str()),
            uri.path()
        ));
        let cap = self.limits.max_timeout;
        let clamp = |t: Option<Duration>| Some(t.map_or(cap, |t| t.min(cap)));
        let options = RequestOptions {
            connect_timeout: clamp(options.and_then(|o| o.connect_timeout)),
            first_byte_timeout: clamp(options.and_then(|o| o.first_byte_timeout)),
            between_bytes_timeout: clamp(options.and_then(|o| o.between_bytes_timeout)),
        };
        let max = self.limits.max_response_bytes;
        let sender = self.sender.clone();
        let readings = self.readings.clone();
        Box::new(async move {
            if readings.applies_to(&request) {
                let fetch = |request| async {
                    let (response, _io) = sender.send(request, options).await?;
                    Ok(capped(response, max))
                };
                let response = readings.answer(request, fetch).await?;
                // The transport's pool drives its connections: nothing to await.
                let io: Io = Box::new(async { Ok(()) });
                return Ok((response, io));
            }
            let (response, io) = sender.send(request, options).await?;
            Ok((capped(response, max), io))
        })
    }
}

type Io = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// The response with its body capped at `max` bytes.
fn capped(response: http::Response<WasiBody>, max: u64) -> http::Response<WasiBody> {
    response.map(|body| {
        CappedBody {
            inner: body,
            left: max,
            limit: max,
        }
        .boxed_unsync()
    })
}

/// A response body that fails with `HttpResponseBodySize` past `limit` bytes, so a runaway
/// server cannot make the host buffer without bound.
struct CappedBody {
    inner: WasiBody,
    left: u64,
    limit: u64,
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    if n > this.left {
                        this.left = 0;
                        return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(
                            this.limit,
                        )))));
                    }
                    this.left -= n;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized() {
        assert_eq!(
            origin_of("http://127.0.0.1:8000/v1").as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(
            origin_of("HTTP://GPU-Box/v1").as_deref(),
            Some("http://gpu-box:80")
        );
        assert_eq!(origin_of("https://h").as_deref(), Some("https://h:443"));
        assert_eq!(
            origin_of("http://[::1]:30000/v1").as_deref(),
            Some("http://[::1]:30000")
        );
        assert_eq!(origin_of("ftp://h"), None);
        assert_eq!(origin_of("http://u:p@h/"), None);
        let a = Allowlist::new([
            "http://127.0.0.1:8000/v1",
            "http://127.0.0.1:8000",
            "nonsense",
        ]);
        assert_eq!(a.origins(), ["http://127.0.0.1:8000"]);
        assert!(a.permits("http://127.0.0.1:8000"));
        assert!(!a.permits("http://127.0.0.1:8001"));
    }
}
