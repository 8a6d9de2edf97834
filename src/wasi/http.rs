//! The wasi:http transport: send one request and read its body, under three per-phase
//! timeouts (set as wasi:http request options, enforced by the host) and the call's deadline
//! (enforced here with monotonic-clock pollables). Only moves bytes and maps wasi:http error
//! codes to ours; every decision lives in the client.

use crate::errors;
use crate::io::{Chunk, Deadline, Incoming, Method as HttpMethod, PhaseTimeouts, Request, Wait};
use crate::types::{Error, ErrorCode, TimeoutKind};
use crate::url::{BaseUrl, Scheme};
use wasip2::clocks::monotonic_clock;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode as WasiError, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse, Method,
    OutgoingBody, OutgoingRequest, RequestOptions, Scheme as WasiScheme,
};
use wasip2::io::poll::{Pollable, poll};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};

pub const USER_AGENT: &str = concat!("aios-llm-core/", env!("CARGO_PKG_VERSION"));

/// Bytes read from the body per call into the host.
const READ_CHUNK: u64 = 64 * 1024;

/// The deadline as a pollable.
fn deadline_pollable(deadline: Deadline) -> Pollable {
    monotonic_clock::subscribe_instant(deadline.at_ns)
}

/// A response over wasi:http. Fields drop in order: pollables and stream are children of the
/// body, which is a child of the response.
pub struct WasiIncoming {
    ready: Pollable,
    /// The deadline as a pollable, made on the first wait and reused.
    end: Option<(u64, Pollable)>,
    stream: InputStream,
    _body: IncomingBody,
    response: IncomingResponse,
    status: u16,
    /// Bytes read so far.
    read: u64,
    /// `scheme://authority` of the server, for error messages.
    origin: String,
}

/// Sends a request and waits for the response head.
pub fn send(
    req: &Request,
    timeouts: PhaseTimeouts,
    deadline: Deadline,
) -> Result<WasiIncoming, Error> {
    start(req, timeouts)?.finish(deadline)
}

/// Sends several requests at once, then waits for each response head: the host runs them in
/// parallel, so the wait is the slowest one's, not the sum (a `/metrics` read of every
/// backend before a routing decision).
pub fn send_all(
    requests: &[(Request, PhaseTimeouts)],
    deadline: Deadline,
) -> Vec<Result<WasiIncoming, Error>> {
    let started: Vec<_> = requests.iter().map(|(r, t)| start(r, *t)).collect();
    started
        .into_iter()
        .map(|s| s.and_then(|s| s.finish(deadline)))
        .collect()
}

/// A request handed to the host, its response not yet waited for.
struct Started<'a> {
    future: FutureIncomingResponse,
    /// A body too large to write before the request was handed over: (stream, body, bytes).
    pending: Option<(OutputStream, OutgoingBody, &'a [u8])>,
    base: &'a BaseUrl,
}

/// Builds a request and hands it to the host.
fn start<'a>(req: &Request<'a>, timeouts: PhaseTimeouts) -> Result<Started<'a>, Error> {
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        ("user-agent".into(), USER_AGENT.as_bytes().to_vec()),
        ("accept".into(), req.accept.as_bytes().to_vec()),
    ];
    if let Some(auth) = req.authorization {
        headers.push(("authorization".into(), auth.as_bytes().to_vec()));
    }
    if let Some(id) = req.request_id {
        headers.push(("x-request-id".into(), id.as_bytes().to_vec()));
    }
    if let Some((name, value)) = req.session {
        headers.push((name.into(), value.as_bytes().to_vec()));
    }
    if let Some(body) = req.body {
        headers.push(("content-type".into(), b"application/json".to_vec()));
        headers.push(("content-length".into(), body.len().to_string().into_bytes()));
    }
    let fields = Fields::from_list(&headers)
        .map_err(|_| Error::invalid_request("a request header was refused by the host"))?;
    let request = OutgoingRequest::new(fields);
    let setup = request
        .set_method(&match req.method {
            HttpMethod::Get => Method::Get,
            HttpMethod::Post => Method::Post,
        })
        .and(request.set_scheme(Some(&match req.base.scheme {
            Scheme::Http => WasiScheme::Http,
            Scheme::Https => WasiScheme::Https,
        })))
        .and(request.set_authority(Some(&req.base.authority)))
        .and(request.set_path_with_query(Some(&req.path)));
    if setup.is_err() {
        return Err(Error::invalid_request(format!(
            "cannot build a request for {}{}",
            req.base.origin(),
            req.path
        )));
    }
    // A bodiless request never takes its body, so the host sends it with an empty one.
    let outgoing_body = match req.body {
        Some(_) => Some(
            request
                .body()
                .map_err(|_| Error::new(ErrorCode::Internal, "request body taken twice"))?,
        ),
        None => None,
    };

    let options = RequestOptions::new();
    let ns = |ms: u64| ms.saturating_mul(1_000_000);
    // A host may refuse an option; the overall deadline still holds then.
    let _ = options.set_connect_timeout(Some(ns(timeouts.connect_ms)));
    let _ = options.set_first_byte_timeout(Some(ns(timeouts.first_byte_ms)));
    let _ = options.set_between_bytes_timeout(Some(ns(timeouts.between_bytes_ms)));

    // A body that fits the stream's write budget is written and finished before the request
    // is handed over, so the host sends head and body in one go (one TCP write, one read on
    // the server) instead of flushing the head alone and the body after it. A larger body
    // streams in once the request is on its way.
    let pending = match (outgoing_body, req.body) {
        (Some(body), Some(bytes)) => {
            let out = body
                .write()
                .map_err(|_| Error::new(ErrorCode::Internal, "request body stream taken twice"))?;
            let whole = matches!(out.check_write(), Ok(budget) if budget >= bytes.len() as u64)
                && out.write(bytes).is_ok();
            if whole {
                drop(out);
                OutgoingBody::finish(body, None)
                    .map_err(|e| transport_error(e, &req.base.origin(), Phase::Head))?;
                None
            } else {
                Some((out, body, bytes))
            }
        }
        _ => None,
    };
    let future = outgoing_handler::handle(request, Some(options))
        .map_err(|e| transport_error(e, &req.base.origin(), Phase::Head))?;
    Ok(Started {
        future,
        pending,
        base: req.base,
    })
}

impl Started<'_> {
    /// Writes the rest of the body, if any, and waits for the response head.
    fn finish(self, deadline: Deadline) -> Result<WasiIncoming, Error> {
        let end = deadline_pollable(deadline);
        // If streaming the body fails, the response future says why: a refused connection,
        // or an early answer (e.g. 413) to use as is.
        let written = match self.pending {
            Some((out, body, bytes)) => stream_body(out, body, bytes, &end, self.base),
            None => Ok(()),
        };
        match (wait_response(&self.future, &end, self.base), written) {
            (Ok(response), _) => open_response(response, self.base),
            (Err(e), Ok(())) => Err(e),
            (Err(e), Err(write_error)) if e.code == ErrorCode::Timeout(TimeoutKind::Total) => {
                Err(write_error)
            }
            (Err(e), Err(_)) => Err(e),
        }
    }
}

fn wait_response(
    future: &FutureIncomingResponse,
    end: &Pollable,
    base: &BaseUrl,
) -> Result<IncomingResponse, Error> {
    let mut ready: Option<Pollable> = None;
    loop {
        if let Some(result) = future.get() {
            return match result {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(code)) => Err(transport_error(code, &base.origin(), Phase::Head)),
                Err(()) => Err(Error::new(ErrorCode::Internal, "response taken twice")),
            };
        }
        let ready = ready.get_or_insert_with(|| future.subscribe());
        if poll(&[ready, end]).contains(&1) && !ready.ready() {
            return Err(errors::total_timeout());
        }
    }
}

/// Streams a body larger than the stream's budget, then finishes it.
fn stream_body(
    out: OutputStream,
    body: OutgoingBody,
    bytes: &[u8],
    end: &Pollable,
    base: &BaseUrl,
) -> Result<(), Error> {
    let written = write_all(&out, bytes, end, base);
    // The stream is the body's child: it must go first, on every path (else the host traps
    // with "resource has children").
    drop(out);
    written?;
    OutgoingBody::finish(body, None).map_err(|e| transport_error(e, &base.origin(), Phase::Head))
}

/// Writes `bytes` within the stream's budget and waits for the flush, so a body error
/// surfaces here rather than as a vague response error.
fn write_all(
    out: &OutputStream,
    bytes: &[u8],
    end: &Pollable,
    base: &BaseUrl,
) -> Result<(), Error> {
    let failed = |what: &str| {
        Error::new(
            ErrorCode::Connection,
            format!("sending the request to {} failed: {what}", base.origin()),
        )
    };
    let ready = out.subscribe();
    let mut rest = bytes;
    while !rest.is_empty() {
        let permitted = out
            .check_write()
            .map_err(|_| failed("the connection closed"))?;
        if permitted == 0 {
            if poll(&[&ready, end]).contains(&1) {
                return Err(errors::total_timeout());
            }
            continue;
        }
        let n = rest
            .len()
            .min(usize::try_from(permitted).unwrap_or(usize::MAX));
        out.write(&rest[..n])
            .map_err(|_| failed("the connection closed"))?;
        rest = &rest[n..];
    }
    out.flush().map_err(|_| failed("the connection closed"))?;
    while out
        .check_write()
        .map_err(|_| failed("the connection closed"))?
        == 0
    {
        if poll(&[&ready, end]).contains(&1) {
            return Err(errors::total_timeout());
        }
    }
    Ok(())
}

fn open_response(response: IncomingResponse, base: &BaseUrl) -> Result<WasiIncoming, Error> {
    let status = response.status();
    let body = response
        .consume()
        .map_err(|_| Error::new(ErrorCode::Internal, "response body taken twice"))?;
    let stream = body
        .stream()
        .map_err(|_| Error::new(ErrorCode::Internal, "response stream taken twice"))?;
    let ready = stream.subscribe();
    Ok(WasiIncoming {
        ready,
        end: None,
        stream,
        _body: body,
        response,
        status,
        read: 0,
        origin: base.origin(),
    })
}

impl WasiIncoming {
    /// Ready when a read would not wait.
    pub fn subscribe(&self) -> Pollable {
        self.stream.subscribe()
    }
}

impl Incoming for WasiIncoming {
    fn status(&self) -> u16 {
        self.status
    }

    fn header(&self, name: &str) -> Option<String> {
        let fields = self.response.headers();
        let value = fields.get(name).into_iter().next();
        value.map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    fn bytes_read(&self) -> u64 {
        self.read
    }

    fn read_chunk(&mut self, wait: Wait, deadline: Deadline) -> Result<Chunk, Error> {
        loop {
            match self.stream.read(READ_CHUNK) {
                Ok(bytes) if bytes.is_empty() => {
                    if wait == Wait::Poll {
                        return Ok(Chunk::Pending);
                    }
                    // One timer per deadline: a later call with another deadline gets its own.
                    let end = match self.end.take() {
                        Some(end) if end.0 == deadline.at_ns => end,
                        _ => (deadline.at_ns, deadline_pollable(deadline)),
                    };
                    let fired = poll(&[&self.ready, &end.1]).contains(&1);
                    self.end = Some(end);
                    if fired && !self.ready.ready() {
                        return Err(errors::total_timeout());
                    }
                }
                Ok(bytes) => {
                    self.read += bytes.len() as u64;
                    return Ok(Chunk::Data(bytes));
                }
                Err(StreamError::Closed) => return Ok(Chunk::End),
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(match wasip2::http::types::http_error_code(&e) {
                        Some(code) => transport_error(code, &self.origin, Phase::Body),
                        None => Error::new(
                            ErrorCode::Connection,
                            format!(
                                "reading the answer from {} failed: {}",
                                self.origin,
                                e.to_debug_string()
                            ),
                        ),
                    });
                }
            }
        }
    }
}

/// Where in the exchange a transport error happened (a read timeout means different things).
#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Head,
    Body,
}

fn transport_error(code: WasiError, origin: &str, phase: Phase) -> Error {
    let connection = |what: String| Error::new(ErrorCode::Connection, what);
    match code {
        WasiError::ConnectionRefused => connection(format!(
            "cannot connect to {origin}: connection refused (is the server running?)"
        )),
        WasiError::DnsError(_) | WasiError::DestinationNotFound => {
            connection(format!("cannot resolve the host of {origin}"))
        }
        WasiError::DnsTimeout => Error::timeout(
            TimeoutKind::Connect,
            format!("looking up the host of {origin} timed out"),
        ),
        WasiError::DestinationUnavailable
        | WasiError::DestinationIpUnroutable
        | WasiError::DestinationIpProhibited => connection(format!("{origin} is unreachable")),
        WasiError::ConnectionTimeout => Error::timeout(
            TimeoutKind::Connect,
            format!("connecting to {origin} timed out"),
        ),
        WasiError::ConnectionReadTimeout | WasiError::HttpResponseTimeout
            if phase == Phase::Head =>
        {
            Error::timeout(
                TimeoutKind::FirstByte,
                format!("{origin} sent no answer within the first-byte timeout"),
            )
        }
        WasiError::ConnectionReadTimeout | WasiError::HttpResponseTimeout => Error::timeout(
            TimeoutKind::BetweenBytes,
            format!("{origin} went silent longer than the between-bytes timeout"),
        ),
        WasiError::ConnectionWriteTimeout => Error::timeout(
            TimeoutKind::FirstByte,
            format!("sending to {origin} timed out"),
        ),
        WasiError::ConnectionTerminated | WasiError::HttpResponseIncomplete
            if phase == Phase::Body =>
        {
            connection(format!(
                "{origin} closed the connection in the middle of the answer"
            ))
        }
        WasiError::ConnectionTerminated | WasiError::HttpResponseIncomplete => {
            connection(format!("{origin} closed the connection without answering"))
        }
        WasiError::HttpRequestDenied => Error::new(
            ErrorCode::Denied,
            format!("the host's sandbox does not allow this component to reach {origin}"),
        ),
        WasiError::HttpResponseBodySize(limit) => Error::new(
            ErrorCode::LimitExceeded,
            format!(
                "the answer from {origin} is larger than the host allows{}",
                limit.map(|l| format!(" ({l} bytes)")).unwrap_or_default()
            ),
        ),
        WasiError::ConnectionLimitReached => Error::new(
            ErrorCode::LimitExceeded,
            format!("the host's connection limit for {origin} is reached"),
        ),
        WasiError::TlsProtocolError
        | WasiError::TlsCertificateError
        | WasiError::TlsAlertReceived(_) => connection(format!("TLS with {origin} failed")),
        WasiError::InternalError(Some(why)) => {
            connection(format!("request to {origin} failed: {why}"))
        }
        _ => connection(format!("request to {origin} failed: HTTP protocol error")),
    }
}
