//! Probes of a backend's server endpoints outside the OpenAI API (`/health`, `/metrics`),
//! and the `health` report that combines them with the model list and the cooldown state.

use super::Client;
use super::calls::ERROR_BODY_READ_MAX;
use super::discovery::Freshness;
use super::picking::Reading;
use crate::io::{self, Deadline, Incoming, Io, Method, Request};
use crate::routing::BackendId;
use crate::types::{BackendHealth, Error, ErrorCode};
use crate::wire::server_errors;

/// Limit for probes (`/health`, `/metrics`, `/models`): they must not hold a call up.
pub(super) const PROBE_MS: u64 = 5_000;

impl<I: Io> Client<I> {
    /// GET of a server endpoint outside `/v1` (`/health`, `/metrics`): the body as text, or
    /// the error (non-2xx, connection, timeout) naming the backend.
    pub(super) fn probe(
        &self,
        b: BackendId,
        endpoint: &str,
        deadline: Deadline,
    ) -> Result<String, Error> {
        self.probe_all(&[b], endpoint, deadline)
            .pop()
            .unwrap_or_else(|| Err(Error::new(ErrorCode::Internal, "a probe without a result")))
    }

    /// [`Client::probe`] of several backends at once (sent together, so the wait is the
    /// slowest server's, not the sum); the results in the order of `backends`.
    pub(super) fn probe_all(
        &self,
        backends: &[BackendId],
        endpoint: &str,
        deadline: Deadline,
    ) -> Vec<Result<String, Error>> {
        let deadline = deadline.within_ms(self.io().now_ns(), PROBE_MS);
        let configs: Vec<_> = backends.iter().map(|&b| self.backend(b)).collect();
        let authorizations: Vec<String> = configs.iter().map(|c| c.authorization()).collect();
        let timeouts = self.timeouts().capped(PROBE_MS);
        let requests: Vec<_> = configs
            .iter()
            .zip(&authorizations)
            .map(|(backend, authorization)| {
                let req = Request {
                    method: Method::Get,
                    base: &backend.base,
                    path: backend.base.server_path(endpoint),
                    authorization: Some(authorization),
                    accept: "*/*",
                    request_id: None,
                    session: None,
                    body: None,
                };
                (req, timeouts)
            })
            .collect();
        let responses = self.io().send_all(&requests, deadline);
        responses
            .into_iter()
            .zip(&requests)
            .zip(&configs)
            .map(|((response, (req, _)), backend)| {
                let named = |e: Error| Error {
                    backend: Some(backend.name.clone()),
                    ..e
                };
                let mut response = response.map_err(named)?;
                let bytes = io::read_prefix(&mut response, ERROR_BODY_READ_MAX, deadline);
                let status = response.status();
                if !(200..300).contains(&status) {
                    return Err(named(server_errors::from_status(
                        status, &bytes, None, &req.path,
                    )));
                }
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            })
            .collect()
    }

    /// One backend's health: `/health`, then (when up) its load and models.
    pub(super) fn health_of(&self, b: BackendId) -> BackendHealth {
        let backend = self.backend(b);
        let deadline = self.deadline_in(PROBE_MS * 2);
        let started = self.io().now_ms();
        let probe = self.probe(b, "/health", deadline);
        let latency_ms = u32::try_from(self.io().now_ms() - started).ok();
        let healthy = probe.is_ok();
        let load = if healthy {
            self.read_load(b, deadline, Reading::Fresh)
        } else {
            None
        };
        let models = if healthy {
            self.models_of(b, deadline, Freshness::Cached)
                .map(|m| m.into_iter().map(|m| m.id).collect())
                .unwrap_or_default()
        } else {
            backend.models.clone()
        };
        let now = self.io().now_ms();
        BackendHealth {
            backend: backend.name.clone(),
            base_url: backend.base.to_string(),
            healthy,
            latency_ms: latency_ms.filter(|_| healthy),
            load: load.map(|l| l.round() as u32),
            models,
            cooldown_ms: self.state().backends[b.0]
                .cooling(now)
                .map(|ms| u32::try_from(ms).unwrap_or(u32::MAX)),
            error: probe.err(),
        }
    }
}
