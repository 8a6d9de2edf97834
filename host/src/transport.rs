//! Outgoing HTTP for every guest of an `LlmCore`: keep-alive connection pools (hyper-util's
//! pooled client) for `http` and `https` alike, with the wasi:http timeouts applied per
//! request — the connect timeout covering name lookup, TCP and the TLS handshake, then the
//! first-byte and between-bytes timeouts. TLS trusts the public web roots plus any private
//! CA roots the host was given. A pool is kept per connect timeout (the connector carries
//! it), at most [`MAX_POOLS`] of them, least recently used dropped first, so clients with
//! ever-new timeouts cannot grow the host without bound.
//!
//! Failures are mapped to wasi:http error codes by type: our connector's [`ConnectFailure`],
//! the resolver's [`DnsFailure`], hyper's error kinds and the underlying `io::Error` kinds.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

type Pooled = Client<Connector, WasiBody>;
type Io = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// Connection pools kept at most (one per distinct connect timeout in use).
pub const MAX_POOLS: usize = 8;

/// The default of each wasi:http timeout the guest leaves unset.
const UNSET_TIMEOUT: Duration = Duration::from_secs(600);

/// Shared by all instances of an `LlmCore`.
pub(crate) struct Transport {
    /// Pools by connect timeout, most recently used last.
    pools: Mutex<Vec<(Duration, Pooled)>>,
    idle_timeout: Duration,
    tls: tokio_rustls::TlsConnector,
}

impl Transport {
    /// A transport trusting the public web roots plus the PEM certificates in
    /// `extra_roots`; a file that cannot be read or holds no certificate is an error.
    pub fn new(idle_timeout: Duration, extra_roots: &[PathBuf]) -> Result<Transport, String> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        for path in extra_roots {
            add_pem_roots(&mut roots, path)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Transport {
            pools: Mutex::new(Vec::new()),
            idle_timeout,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    /// Connection pools currently kept.
    pub fn pool_count(&self) -> usize {
        self.pools.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn pool(&self, connect_timeout: Duration) -> Pooled {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = pools.iter().position(|(t, _)| *t == connect_timeout) {
            let entry = pools.remove(i);
            let pool = entry.1.clone();
            pools.push(entry);
            return pool;
        }
        if pools.len() >= MAX_POOLS {
            // Its idle connections close; requests in flight keep their own.
            pools.remove(0);
        }
        let mut tcp = HttpConnector::new_with_resolver(TypedResolver(GaiResolver::new()));
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let connector = Connector {
            tcp,
            tls: self.tls.clone(),
            timeout: connect_timeout,
        };
        let pool = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(self.idle_timeout)
            .pool_timer(TokioTimer::new())
            .build(connector);
        pools.push((connect_timeout, pool.clone()));
        pool
    }

    /// Sends a request; the response body fails with `ConnectionReadTimeout` when the
    /// server is silent longer than the between-bytes timeout.
    pub async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: RequestOptions,
    ) -> Result<(http::Response<WasiBody>, Io), HttpError> {
        let connect = options.connect_timeout.unwrap_or(UNSET_TIMEOUT);
        let first_byte = options.first_byte_timeout.unwrap_or(UNSET_TIMEOUT);
        let between = options.between_bytes_timeout.unwrap_or(UNSET_TIMEOUT);
        let pool = self.pool(connect);
        // The first-byte timeout starts once connected: the connector keeps its own.
        let response = match tokio::time::timeout(connect + first_byte, pool.request(request)).await
        {
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

/// Adds every certificate of a PEM file to `roots`.
fn add_pem_roots(roots: &mut rustls::RootCertStore, path: &PathBuf) -> Result<(), String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read root certificates from {shown}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read root certificates from {shown}: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "{shown} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)"
        ));
    }
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("a root certificate in {shown} is not usable: {e}"))?;
    }
    Ok(())
}

/// Why a connection could not be made (the connector's error, found again by downcasting).
#[derive(Debug)]
pub(crate) enum ConnectFailure {
    /// Name lookup, TCP and TLS together took longer than the connect timeout.
    Timeout,
    /// The TLS handshake failed; `plain_http` when the server answered in plain HTTP.
    Tls {
        error: std::io::Error,
        plain_http: bool,
    },
    /// The host name is not a valid TLS server name.
    ServerName,
    /// Name lookup or TCP failed (hyper-util's error, with its cause).
    Tcp(Box<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectFailure::Timeout => write!(f, "connect timeout"),
            ConnectFailure::Tls { error, .. } => write!(f, "TLS handshake failed: {error}"),
            ConnectFailure::ServerName => write!(f, "not a valid TLS server name"),
            ConnectFailure::Tcp(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ConnectFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectFailure::Tcp(e) => Some(&**e),
            ConnectFailure::Tls { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A name lookup failure, as its own type (hyper-util's is private).
#[derive(Debug)]
pub(crate) struct DnsFailure(std::io::Error);

impl fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "name lookup failed: {}", self.0)
    }
}

impl std::error::Error for DnsFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// The system resolver, failing with [`DnsFailure`].
#[derive(Clone)]
struct TypedResolver(GaiResolver);

impl tower_service::Service<Name> for TypedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = DnsFailure;
    type Future =
        Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, DnsFailure>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), DnsFailure>> {
        self.0.poll_ready(cx).map_err(DnsFailure)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let lookup = self.0.call(name);
        Box::pin(async move {
            let addrs = lookup.await.map_err(DnsFailure)?;
            Ok(addrs.collect::<Vec<_>>().into_iter())
        })
    }
}

/// TCP, then TLS for `https`, all within the connect timeout.
#[derive(Clone)]
struct Connector {
    tcp: HttpConnector<TypedResolver>,
    tls: tokio_rustls::TlsConnector,
    timeout: Duration,
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = ConnectFailure;
    type Future = Pin<Box<dyn Future<Output = Result<TokioIo<Stream>, ConnectFailure>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectFailure>> {
        self.tcp
            .poll_ready(cx)
            .map_err(|e| ConnectFailure::Tcp(Box::new(e)))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let tcp = self.tcp.call(uri.clone());
        let tls = self.tls.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let connect = async move {
                let tcp = tcp
                    .await
                    .map_err(|e| ConnectFailure::Tcp(Box::new(e)))?
                    .into_inner();
                if !https {
                    return Ok(Stream::Plain(tcp));
                }
                let name = server_name(&uri).ok_or(ConnectFailure::ServerName)?;
                // Keep the first bytes the server sent, to tell a plain-HTTP answer apart.
                let peeked = Arc::new(Mutex::new(Vec::new()));
                let recording = Recording {
                    inner: tcp,
                    seen: Some(peeked.clone()),
                };
                match tls.connect(name, recording).await {
                    Ok(mut stream) => {
                        stream.get_mut().0.seen = None;
                        Ok(Stream::Tls(Box::new(stream)))
                    }
                    Err(error) => {
                        let seen = peeked.lock().unwrap_or_else(|p| p.into_inner());
                        Err(ConnectFailure::Tls {
                            error,
                            plain_http: seen.starts_with(b"HTTP/"),
                        })
                    }
                }
            };
            match tokio::time::timeout(timeout, connect).await {
                Ok(result) => result.map(TokioIo::new),
                Err(_) => Err(ConnectFailure::Timeout),
            }
        })
    }
}

/// The rustls server name of a URI's host (an IP address or a DNS name).
fn server_name(uri: &http::Uri) -> Option<rustls::pki_types::ServerName<'static>> {
    let host = uri.host()?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Some(ip.into());
    }
    rustls::pki_types::ServerName::try_from(host.to_string()).ok()
}

/// A TCP stream that keeps the first bytes it reads, while `seen` is set (during the TLS
/// handshake only).
struct Recording {
    inner: TcpStream,
    seen: Option<Arc<Mutex<Vec<u8>>>>,
}

impl AsyncRead for Recording {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Some(seen) = &self.seen {
            let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
            let room = 16usize.saturating_sub(seen.len());
            let new = &buf.filled()[before..];
            seen.extend_from_slice(&new[..new.len().min(room)]);
        }
        polled
    }
}

impl AsyncWrite for Recording {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A pooled connection: plain TCP or TLS over TCP.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<Recording>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The first error of type `T` in `e`'s source chain.
fn find<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut source = Some(e);
    while let Some(s) = source {
        if let Some(t) = s.downcast_ref::<T>() {
            return Some(t);
        }
        source = s.source();
    }
    None
}

/// Maps hyper-util's error to the wasi:http code the guest understands.
fn client_error(e: &hyper_util::client::legacy::Error) -> HttpError {
    if let Some(failure) = find::<ConnectFailure>(e) {
        return connect_error(failure);
    }
    if let Some(h) = find::<hyper::Error>(e) {
        return hyper_error(h);
    }
    HttpError::InternalError(Some(e.to_string()))
}

fn connect_error(failure: &ConnectFailure) -> HttpError {
    match failure {
        ConnectFailure::Timeout => HttpError::ConnectionTimeout,
        ConnectFailure::Tls {
            plain_http: true, ..
        } => HttpError::InternalError(Some(
            "the server answered in plain HTTP, not TLS: the URL says https://, the server \
             speaks http:// (use an http:// base URL, or enable TLS on the server)"
                .into(),
        )),
        ConnectFailure::Tls { error, .. } => tls_error(error),
        ConnectFailure::ServerName => HttpError::InternalError(Some(
            "the host is not a valid TLS server name for https://".into(),
        )),
        ConnectFailure::Tcp(e) => {
            if find::<DnsFailure>(&**e).is_some() {
                return HttpError::DnsError {
                    rcode: None,
                    info_code: None,
                };
            }
            match find::<std::io::Error>(&**e).map(std::io::Error::kind) {
                Some(std::io::ErrorKind::TimedOut) => HttpError::ConnectionTimeout,
                Some(
                    std::io::ErrorKind::NetworkUnreachable | std::io::ErrorKind::HostUnreachable,
                ) => HttpError::DestinationUnavailable,
                _ => HttpError::ConnectionRefused,
            }
        }
    }
}

/// A TLS handshake failure, by rustls's error type: an untrusted certificate says where a
/// private CA goes.
fn tls_error(error: &std::io::Error) -> HttpError {
    // tokio-rustls wraps rustls's error in the `io::Error` (whose `source` skips it).
    let rustls_error = error
        .get_ref()
        .and_then(|inner| find::<rustls::Error>(inner));
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(why)) => HttpError::InternalError(Some(format!(
            "the server's TLS certificate is not accepted ({why:?}); a private CA's root \
             certificate goes in the host's extra root certificates"
        ))),
        Some(other) => HttpError::InternalError(Some(format!("TLS handshake failed: {other}"))),
        None => match error.kind() {
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => {
                HttpError::InternalError(Some(
                    "the server closed the connection during the TLS handshake (does it speak \
                     https://?)"
                        .into(),
                ))
            }
            _ => HttpError::TlsProtocolError,
        },
    }
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
        match find::<std::io::Error>(e).map(std::io::Error::kind) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_bounded_least_recently_used_first() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let t = Transport::new(Duration::from_secs(90), &[]).unwrap();
        for ms in 1..=100u64 {
            t.pool(Duration::from_millis(ms));
            assert!(t.pool_count() <= MAX_POOLS);
        }
        assert_eq!(t.pool_count(), MAX_POOLS);
        // Used again: kept (moved to the back), the oldest other one goes instead.
        t.pool(Duration::from_millis(93));
        t.pool(Duration::from_millis(1000));
        let kept: Vec<u64> = t
            .pools
            .lock()
            .unwrap()
            .iter()
            .map(|(d, _)| d.as_millis() as u64)
            .collect();
        assert_eq!(kept, [95, 96, 97, 98, 99, 100, 93, 1000]);
    }

    #[test]
    fn unreadable_or_empty_root_files_are_errors() {
        let missing = Transport::new(Duration::ZERO, &["/nonexistent/ca.pem".into()]);
        assert!(missing.err().unwrap().contains("/nonexistent/ca.pem"));
        let empty = std::env::temp_dir().join(format!("llm-core-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = Transport::new(Duration::ZERO, std::slice::from_ref(&empty))
            .err()
            .unwrap();
        assert!(e.contains("no PEM certificate"), "{e}");
        std::fs::remove_file(empty).ok();
    }
}
