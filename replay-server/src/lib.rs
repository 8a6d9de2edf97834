//! A loopback HTTP server for tests and benchmarks. It replays vLLM-, SGLang- and
//! llama.cpp-shaped answers scripted per path, records every request (method, path,
//! headers, body) so tests can assert on what was sent, and injects faults: hanging before
//! the head, closing mid-body, dripping slowly, never ending, and huge bodies.
//!
//! [`sim_fleet`] is a different kind of server: many simulated LLM servers, each with a
//! [`prefix_cache`] model, answering from the request itself (routing benchmarks).
//!
//! [`replies`] builds the answers in each server's shape:
//!
//! ```no_run
//! use replay_server::{ReplayServer, replies};
//! # async fn demo() {
//! let server = ReplayServer::start().await;
//! server.on(replies::CHAT, replies::text("Hello!"));
//! // ... point a client at server.base_url(), then look at server.last().json()
//! # }
//! ```
#![deny(missing_docs)]

pub mod prefix_cache;
pub mod replies;
pub mod sim_fleet;

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

type Body = BoxBody<Bytes, std::io::Error>;

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A complete body.
    Body {
        /// HTTP status.
        status: u16,
        /// Response headers.
        headers: Vec<(String, String)>,
        /// The whole body.
        body: Bytes,
    },
    /// A body sent in parts, `delay` apart; with `fail_after` the connection is closed
    /// abruptly after that many parts (no terminating chunk: the client sees a cut).
    Parts {
        /// HTTP status.
        status: u16,
        /// `content-type` header.
        content_type: String,
        /// The body, one write per part.
        parts: Vec<Bytes>,
        /// Pause before each part after the first.
        delay: Duration,
        /// Close the connection after this many parts.
        fail_after: Option<usize>,
    },
    /// Never answers (first-byte timeouts).
    Hang,
    /// `part` repeated `count` times (forever when `None`), `delay` apart (endless streams,
    /// slow drips, huge bodies without holding them in memory).
    Repeat {
        /// HTTP status.
        status: u16,
        /// `content-type` header.
        content_type: String,
        /// Sent once, first.
        head: Bytes,
        /// Sent `count` times after the head.
        part: Bytes,
        /// How often `part` is sent; `None`: forever.
        count: Option<usize>,
        /// Pause before each write.
        delay: Duration,
    },
    /// Waits, then answers.
    After(Duration, Box<Reply>),
}

impl Reply {
    /// `200 application/json`.
    pub fn json(body: impl Into<String>) -> Reply {
        Reply::status_json(200, body)
    }

    /// `status` with an `application/json` body.
    pub fn status_json(status: u16, body: impl Into<String>) -> Reply {
        Reply::Body {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(body.into()),
        }
    }

    /// A body with explicit headers (e.g. `retry-after`).
    pub fn with_headers(status: u16, headers: &[(&str, &str)], body: impl Into<String>) -> Reply {
        Reply::Body {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Bytes::from(body.into()),
        }
    }

    /// `status` with a `text/plain` body.
    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply::Body {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: Bytes::from(body.into()),
        }
    }

    /// An SSE stream, one write per part as given (`data: ...\n\n` already formatted, or any
    /// bytes, e.g. split mid-event or invalid UTF-8).
    pub fn sse_raw<P: Into<Bytes>>(parts: impl IntoIterator<Item = P>) -> Reply {
        Reply::Parts {
            status: 200,
            content_type: "text/event-stream".into(),
            parts: parts.into_iter().map(Into::into).collect(),
            delay: Duration::ZERO,
            fail_after: None,
        }
    }

    /// An SSE stream of `data: <payload>\n\n` events.
    pub fn sse(payloads: &[&str]) -> Reply {
        Reply::sse_raw(payloads.iter().map(|p| format!("data: {p}\n\n")))
    }

    /// `part` forever (or until the client gives up), `delay` apart: an endless stream.
    pub fn endless(content_type: &str, part: Bytes, delay: Duration) -> Reply {
        Reply::Repeat {
            status: 200,
            content_type: content_type.into(),
            head: Bytes::new(),
            part,
            count: None,
            delay,
        }
    }

    /// The same reply after a wait before the head.
    pub fn after(self, d: Duration) -> Reply {
        Reply::After(d, Box::new(self))
    }

    /// The same reply with `delay` between parts.
    pub fn delayed(self, d: Duration) -> Reply {
        match self {
            Reply::Parts {
                status,
                content_type,
                parts,
                fail_after,
                ..
            } => Reply::Parts {
                status,
                content_type,
                parts,
                delay: d,
                fail_after,
            },
            other => other,
        }
    }

    /// The same reply, cut off (connection closed) after `n` parts.
    pub fn cut_after(self, n: usize) -> Reply {
        match self {
            Reply::Parts {
                status,
                content_type,
                parts,
                delay,
                ..
            } => Reply::Parts {
                status,
                content_type,
                parts,
                delay,
                fail_after: Some(n),
            },
            other => other,
        }
    }
}

/// A request as received.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// Headers in the order received.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Bytes,
}

impl Recorded {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (`Null` if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Default)]
struct Script {
    /// Benchmarks turn recording off: no lock-held copies per request.
    quiet: bool,
    in_flight: usize,
    peak_in_flight: usize,
    /// One-shot replies per path, used in order before the default.
    queued: HashMap<String, VecDeque<Reply>>,
    /// One-shot replies per `x-request-id`, used before the path's: concurrent callers each
    /// get their own script.
    by_request: HashMap<String, VecDeque<Reply>>,
    defaults: HashMap<String, Reply>,
    recorded: Vec<Recorded>,
}

/// The server; stops when dropped.
pub struct ReplayServer {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    connections: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
    /// Tells every connection to close (a killed server).
    kill: tokio::sync::watch::Sender<bool>,
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Decrements the open-connection count when a connection task ends, however it ends.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ReplayServer {
    /// Starts on a free loopback port (within a tokio runtime).
    pub async fn start() -> ReplayServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        ReplayServer::with_listener(listener)
    }

    /// Starts on a given listener (e.g. to restart on the same port).
    pub fn with_listener(listener: TcpListener) -> ReplayServer {
        let addr = listener.local_addr().expect("listener address");
        let script = Arc::new(Mutex::new(Script::default()));
        let connections = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let (s, c, o) = (script.clone(), connections.clone(), open.clone());
        let (kill, killed) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                c.fetch_add(1, Ordering::SeqCst);
                o.fetch_add(1, Ordering::SeqCst);
                let guard = OpenGuard(o.clone());
                let script = s.clone();
                let mut killed = killed.clone();
                tokio::spawn(async move {
                    let _guard = guard;
                    let service = service_fn(move |req| handle(script.clone(), req));
                    let connection =
                        http1::Builder::new().serve_connection(TokioIo::new(tcp), service);
                    tokio::select! {
                        _ = connection => {}
                        _ = killed.wait_for(|k| *k) => {}
                    }
                });
            }
        });
        ReplayServer {
            addr,
            script,
            connections,
            open,
            task,
            kill,
        }
    }

    /// Stops listening and drops every open connection, like a crashed server.
    pub fn kill(&self) {
        self.task.abort();
        let _ = self.kill.send(true);
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The reply for every request to `path` (when nothing is queued).
    pub fn on(&self, path: &str, reply: Reply) -> &Self {
        self.lock().defaults.insert(path.to_string(), reply);
        self
    }

    /// A one-shot reply for the next request to `path`.
    pub fn push(&self, path: &str, reply: Reply) -> &Self {
        self.lock()
            .queued
            .entry(path.to_string())
            .or_default()
            .push_back(reply);
        self
    }

    /// A one-shot reply for the next request whose `x-request-id` header is `id`, whatever
    /// its path; such replies come before the path's. Lets concurrent callers script their
    /// own calls (a soak's many clients on one server).
    pub fn push_for(&self, id: &str, reply: Reply) -> &Self {
        self.lock()
            .by_request
            .entry(id.to_string())
            .or_default()
            .push_back(reply);
        self
    }

    /// Replies pushed with [`ReplayServer::push_for`] that no request has taken yet.
    pub fn unclaimed(&self) -> usize {
        self.lock().by_request.values().map(VecDeque::len).sum()
    }

    /// Stops recording requests (for benchmarks; `requests()` then stays empty).
    pub fn quiet(&self) -> &Self {
        self.lock().quiet = true;
        self
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().recorded.clone()
    }

    /// Requests received so far to `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.lock()
            .recorded
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// The last request received.
    pub fn last(&self) -> Recorded {
        self.lock()
            .recorded
            .last()
            .cloned()
            .expect("the server received a request")
    }

    /// Most requests being answered at the same time (head not yet sent) so far.
    pub fn peak_in_flight(&self) -> usize {
        self.lock().peak_in_flight
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// TCP connections currently open.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn handle(
    script: Arc<Mutex<Script>>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let id = req.headers().get("x-request-id").cloned();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let reply = {
        let mut s = script.lock().unwrap_or_else(|p| p.into_inner());
        if !s.quiet {
            s.recorded.push(Recorded {
                method,
                path: path.clone(),
                headers,
                body,
            });
        }
        s.in_flight += 1;
        s.peak_in_flight = s.peak_in_flight.max(s.in_flight);
        let keyed = id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .filter(|_| !s.by_request.is_empty())
            .and_then(|id| {
                let queue = s.by_request.get_mut(id)?;
                let reply = queue.pop_front();
                if queue.is_empty() {
                    s.by_request.remove(id);
                }
                reply
            });
        keyed
            .or_else(|| s.queued.get_mut(&path).and_then(VecDeque::pop_front))
            .or_else(|| s.defaults.get(&path).cloned())
    };
    let reply = reply.unwrap_or_else(|| Reply::status_json(404, format!(r#"{{"error":{{"message":"no reply scripted for {path}","type":"NotFoundError","code":404}}}}"#)));
    let response = respond(reply).await;
    script.lock().unwrap_or_else(|p| p.into_inner()).in_flight -= 1;
    Ok(response)
}

async fn respond(mut reply: Reply) -> Response<Body> {
    while let Reply::After(wait, inner) = reply {
        tokio::time::sleep(wait).await;
        reply = *inner;
    }
    match reply {
        Reply::After(..) => unreachable!("unwrapped above"),
        Reply::Body {
            status,
            headers,
            body,
        } => {
            let mut r = Response::builder().status(status);
            for (k, v) in headers {
                r = r.header(k, v);
            }
            r.body(Full::new(body).map_err(|never| match never {}).boxed())
                .expect("valid response")
        }
        Reply::Hang => futures::future::pending().await,
        Reply::Parts {
            status,
            content_type,
            parts,
            delay,
            fail_after,
        } => {
            let n = parts.len();
            let frames =
                stream::iter(parts.into_iter().enumerate()).then(move |(i, part)| async move {
                    if i > 0 && !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    if fail_after == Some(i) {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "fault: cut mid-body",
                        ));
                    }
                    Ok(Frame::data(part))
                });
            // A cut after the last part still cuts: an error after all parts.
            let tail = stream::iter((fail_after == Some(n)).then(|| {
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "fault: cut at the end",
                ))
            }));
            streamed(status, &content_type, frames.chain(tail))
        }
        Reply::Repeat {
            status,
            content_type,
            head,
            part,
            count,
            delay,
        } => {
            let parts = stream::iter(
                std::iter::once(head).chain(std::iter::repeat_n(part, count.unwrap_or(usize::MAX))),
            )
            .then(move |p| async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Ok(Frame::data(p))
            });
            streamed(status, &content_type, parts)
        }
    }
}

fn streamed(
    status: u16,
    content_type: &str,
    frames: impl futures::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send + Sync + 'static,
) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", "no-cache")
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .expect("valid response")
}
