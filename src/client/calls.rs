//! One call over the wire: validate the request, route its model, build the body once per
//! dialect (leaving out backends that cannot express the request), and send it with retries.
//! A non-2xx answer becomes a `Failure` carrying the server's body and retry hints.

use super::Client;
use crate::config::Backend;
use crate::errors::MAX_ERROR_BODY;
use crate::io::{self, Deadline, Incoming, Io, Method, PhaseTimeouts, Request};
use crate::routing::{BackendId, Route, affinity, retry};
use crate::types::{BackendKind, ChatRequest, Error, RoutingStrategy};
use crate::wire::{request, server_errors};
use std::borrow::Cow;
use std::rc::Rc;

/// Error bodies are read up to this size (the error keeps [`MAX_ERROR_BODY`] of it).
pub(super) const ERROR_BODY_READ_MAX: u64 = 16 * MAX_ERROR_BODY as u64;

/// Request bodies by backend: backends of one dialect share one body.
type Bodies = Vec<(BackendId, Rc<Vec<u8>>)>;

/// Where a request goes on a backend.
#[derive(Clone, Copy, Debug)]
pub(super) enum Endpoint<'a> {
    /// Under the OpenAI root (the base URL's path, e.g. `/v1/models`).
    Api(&'a str),
    /// At the server's root, outside `/v1` (vLLM's `/tokenize`).
    Server(&'a str),
}

/// How the answer is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// One JSON completion.
    Whole,
    /// Server-sent events (`stream: true`).
    Stream,
}

/// A 2xx answer from one attempt, with what it was for.
pub(super) struct Answer<'a, R> {
    pub backend: &'a Backend,
    pub backend_id: BackendId,
    /// The family the request was built for (`auto` resolved).
    pub kind: BackendKind,
    pub response: R,
    pub model: &'a str,
    pub attempts: u32,
    pub deadline: Deadline,
    /// The call's request id (sent as `X-Request-Id`, `request_id`, `rid`).
    pub request_id: &'a str,
}

pub(super) use crate::wire::request::CallIds;

/// A 400 that names `priority`: the server does not schedule by priority (vLLM without
/// `--scheduling-policy priority` says "Priority scheduling is not enabled").
fn refuses_priority(f: &Failure) -> bool {
    f.error.status == Some(400) && f.error.message.to_ascii_lowercase().contains("priority")
}

/// A failed attempt and what the server said about retrying.
pub(super) struct Failure {
    pub error: Error,
    pub retry_after_ms: Option<u64>,
    pub should_retry: Option<bool>,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure {
            error,
            retry_after_ms: None,
            should_retry: None,
        }
    }
}

impl<I: Io> Client<I> {
    /// Validates, routes and sends a chat request (with retries over backends); `read` turns
    /// a 2xx answer into the result, or a failure that may be retried.
    pub(super) fn post<T>(
        &self,
        req: &ChatRequest,
        mode: Mode,
        mut read: impl FnMut(Answer<'_, I::Incoming>) -> Result<T, Failure>,
    ) -> Result<T, Error> {
        request::validate(req)?;
        let deadline = self.call_deadline(req);
        let (model, eligible) = self.route_model(req.model.as_deref(), deadline)?;
        self.detect_kinds(&eligible, deadline);
        let request_id = match &req.request_id {
            Some(id) => id.clone(),
            None => format!("llmcore-{:016x}", self.state().rng.next_u64()),
        };
        let call = CallIds {
            request_id: &request_id,
            model: &model,
            stream: mode == Mode::Stream,
            send_priority: true,
        };
        let bodies = self.bodies(req, &call, &eligible)?;
        let capable: Vec<BackendId> = bodies.iter().map(|(b, _)| *b).collect();
        let accept = match mode {
            Mode::Whole => "application/json",
            Mode::Stream => "text/event-stream",
        };
        let route = Route {
            ticket: req.routing_ticket,
            affinity: (self.settings().routing == RoutingStrategy::CacheAware)
                .then(|| affinity::session_key(req)),
        };
        self.with_retries(&capable, deadline, route, |b, attempts| {
            let body = bodies
                .iter()
                .find(|(x, _)| *x == b)
                .map_or(&[][..], |(_, body)| body.as_slice());
            let backend = self.backend(b);
            let send = |body: &[u8]| {
                self.exchange(
                    backend,
                    Some(body),
                    Endpoint::Api("/chat/completions"),
                    accept,
                    Some(&request_id),
                    req.session_id.as_deref(),
                    self.timeouts(),
                    deadline,
                )
            };
            let response = match send(body) {
                Err(f) if req.priority.is_some() && refuses_priority(&f) => {
                    // Remembered, and sent again at once without it (same attempt).
                    self.state().backends[b.0].refuses_priority = true;
                    let resolved = self.resolved_backend(b);
                    let body = request::chat_body_with(req, &resolved, &call.without_priority())?;
                    send(&body)?
                }
                other => other?,
            };
            read(Answer {
                backend,
                backend_id: b,
                kind: self.resolved_backend(b).kind,
                response,
                model: &model,
                attempts,
                deadline,
                request_id: &request_id,
            })
        })
    }

    /// Request bodies for the eligible backends, built once per dialect (usually one). A
    /// backend whose dialect cannot express the request (e.g. a grammar with tools on
    /// llama.cpp) is left out, so routing picks among those that can; when none can, the
    /// refusal comes back unsent.
    fn bodies(
        &self,
        req: &ChatRequest,
        call: &CallIds<'_>,
        eligible: &[BackendId],
    ) -> Result<Bodies, Error> {
        let mut bodies: Bodies = Vec::with_capacity(eligible.len());
        let mut refusal = None;
        let dialect = |b: BackendId| {
            let refuses = self.state().backends[b.0].refuses_priority;
            (self.resolved_backend(b).dialect(), refuses)
        };
        for &b in eligible {
            let backend = self.resolved_backend(b);
            let same_dialect = bodies
                .iter()
                .find(|(other, _)| dialect(*other) == dialect(b));
            let built = match same_dialect {
                Some((_, body)) => Ok(Rc::clone(body)),
                None => {
                    let call = if self.state().backends[b.0].refuses_priority {
                        call.without_priority()
                    } else {
                        *call
                    };
                    request::chat_body_with(req, &backend, &call).map(Rc::new)
                }
            };
            match built {
                Ok(body) => bodies.push((b, body)),
                Err(e) => {
                    refusal.get_or_insert(Error {
                        backend: Some(backend.name.clone()),
                        ..e
                    });
                }
            }
        }
        if bodies.is_empty() {
            return Err(refusal
                .unwrap_or_else(|| Error::invalid_request("no backend can take this request")));
        }
        Ok(bodies)
    }

    /// The backend as requests are built for it (an `auto` one as detected).
    pub(super) fn resolved_backend(&self, b: BackendId) -> Cow<'_, Backend> {
        let detected = self.state().backends[b.0].detected;
        self.backend(b).resolved(detected)
    }

    /// A JSON exchange that is not a chat (models, token counts, embeddings): the whole 2xx
    /// body, within `max-response-bytes`, or the failure.
    pub(super) fn fetch_json(
        &self,
        b: BackendId,
        endpoint: Endpoint<'_>,
        body: Option<&[u8]>,
        timeouts: PhaseTimeouts,
        deadline: Deadline,
    ) -> Result<Vec<u8>, Failure> {
        let mut response = self.exchange(
            self.backend(b),
            body,
            endpoint,
            "application/json",
            None,
            None,
            timeouts,
            deadline,
        )?;
        let max = self.settings().max_response_bytes;
        Ok(io::read_all(&mut response, max, deadline)?)
    }

    /// Sends to an OpenAI endpoint (`/v1/...`); a non-2xx answer becomes a `Failure` with
    /// the server's body, message and retry hints.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn exchange(
        &self,
        backend: &Backend,
        body: Option<&[u8]>,
        endpoint: Endpoint<'_>,
        accept: &str,
        request_id: Option<&str>,
        session_id: Option<&str>,
        timeouts: PhaseTimeouts,
        deadline: Deadline,
    ) -> Result<I::Incoming, Failure> {
        let authorization = backend.authorization();
        let req = Request {
            method: if body.is_some() {
                Method::Post
            } else {
                Method::Get
            },
            base: &backend.base,
            path: match endpoint {
                Endpoint::Api(e) => backend.base.api_path(e),
                Endpoint::Server(e) => backend.base.server_path(e),
            },
            authorization: Some(&authorization),
            accept,
            request_id,
            session: session_id.map(|id| (self.settings().session_header.as_str(), id)),
            body,
        };
        let mut response = self.io().send(&req, timeouts, deadline)?;
        let status = response.status();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let retry_after_ms = retry::retry_after_ms(
            response.header("retry-after-ms").as_deref(),
            response.header("retry-after").as_deref(),
            self.io().unix_s(),
        );
        let should_retry = retry::should_retry(response.header("x-should-retry").as_deref());
        let bytes = io::read_prefix(&mut response, ERROR_BODY_READ_MAX, deadline);
        let error = server_errors::from_status(status, &bytes, retry_after_ms, &req.path);
        Err(Failure {
            error,
            retry_after_ms,
            should_retry,
        })
    }
}
