//! Outgoing HTTP for every guest of the process: a keep-alive connection pool per connect
//! timeout (hyper-util's pooled client), with the wasi:http first-byte and between-bytes
//! timeouts applied per request. `https` goes through wasmtime's default sender (a new TLS
//! connection per request).

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

type Pooled = Client<HttpConnector, WasiBody>;
type Io = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// Shared by all instances of an `LlmCore`.
pub struct Transport {
    /// One pool per connect timeout (clients usually share one value).
    pools: Mutex<HashMap<Duration, Pooled>>,
    idle_timeout: Duration,
}

impl Default for Transport {
    fn default() -> Self {
        Transport::new(Duration::from_secs(90))
    }
}

impl Transport {
    pub fn new(idle_timeout: Duration) -> Transport {
        Transport {
            pools: Mutex::new(HashMap::new()),
            idle_timeout,
        }
    }

    fn pool(&self, connect_timeout: Duration) -> Pooled {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools
            .entry(connect_timeout)
            .or_insert_with(|| {
                let mut connector = HttpConnector::new();
                connector.set_connect_timeout(Some(connect_timeout));
                connector.set_nodelay(true);
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(self.idle_timeout)
                    .pool_timer(TokioTimer::new())
                    .build(connector)
            })
            .clone()
    }

    /// Sends a request; the response body fails with `ConnectionReadTimeout` when the
    /// server is silent longer than the between-bytes timeout.
    pub async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: RequestOptions,
    ) -> Result<(http::Response<WasiBody>, Io), HttpError> {
        let connect = options.connect_timeout.unwrap_or(Duration::from_secs(600));
        let first_byte = options
            .first_byte_timeout
            .unwrap_or(Duration::from_secs(600));
        let between = options
            .between_bytes_timeout
            .unwrap_or(Duration::from_secs(600));
        if request.uri().scheme() == Some(&http::uri::Scheme::HTTPS) {
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            return Ok((response.map(BodyExt::boxed_unsync), Box::new(io)));
        }
        let pool = self.pool(connect);
        let response = match tokio::time::timeout(first_byte, pool.request(request)).await {
            Err(_) => return Err(HttpError::ConnectionReadTimeout),
            Ok(Err(e)) => return Err(client_error(&e)),
            Ok(Ok(r)) => r,
        };
        let response = response.map(|incoming| {
            let timer = Box::pin(tokio::time::sleep(between));
            IdleTimeoutBody {
                inner: incoming,
                timer,
                between,
            }
            .boxed_unsync()
        });
        // The pool drives connections itself; nothing for the caller to await.
        Ok((response, Box::new(async { Ok(()) })))
    }
}

/// Maps hyper-util's error to the wasi:http code the guest understands.
fn client_error(e: &hyper_util::client::legacy::Error) -> HttpError {
    if e.is_connect() {
        let text = format!("{e:?}");
        return match io_kind(e) {
            Some(std::io::ErrorKind::TimedOut) => HttpError::ConnectionTimeout,
            _ if text.contains("dns error") => HttpError::DnsError {
                rcode: None,
                info_code: None,
            },
            Some(std::io::ErrorKind::ConnectionRefused) => HttpError::ConnectionRefused,
            Some(std::io::ErrorKind::NetworkUnreachable | std::io::ErrorKind::HostUnreachable) => {
                HttpError::DestinationUnavailable
            }
            _ => HttpError::ConnectionRefused,
        };
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            return hyper_error(h);
        }
        source = s.source();
    }
    HttpError::InternalError(Some(e.to_string()))
}

fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut source = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = s.source();
    }
    None
}

fn hyper_error(e: &hyper::Error) -> HttpError {
    if e.is_incomplete_message() {
        HttpError::HttpResponseIncomplete
    } else if e.is_closed() || e.is_canceled() {
        HttpError::ConnectionTerminated
    } else if e.is_timeout() {
        HttpError::ConnectionReadTimeout
    } else if e.is_parse() {
        HttpError::HttpProtocolError
    } else {
        match io_kind(e) {
            Some(
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof,
            ) => HttpError::ConnectionTerminated,
            _ => HttpError::InternalError(Some(e.to_string())),
        }
    }
}

/// The response body with the between-bytes timeout.
struct IdleTimeoutBody {
    inner: hyper::body::Incoming,
    timer: Pin<Box<tokio::time::Sleep>>,
    between: Duration,
}

impl Body for IdleTimeoutBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + this.between;
                this.timer.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(hyper_error(&e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
