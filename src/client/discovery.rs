//! Which model a call uses and which backends serve it: the request's model, else the
//! configured default, else the first backend's first model; backends that declare no
//! models are asked (`GET /models`, cached for `discovery-ttl-ms`; while a backend cannot
//! be asked, its last listing stands in and it cools down like a failed call).

use super::Client;
use super::calls::Failure;
use super::probes::PROBE_MS;
use crate::io::{Deadline, Io};
use crate::routing::{BackendId, Route, retry};
use crate::types::{BackendKind, Error, ErrorCode, ModelInfo};
use crate::wire::models;

/// Whether a model list may come from the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Freshness {
    /// Within `discovery-ttl-ms`, the remembered list.
    Cached,
    /// Always ask the server.
    Fresh,
}

impl<I: Io> Client<I> {
    /// The model to use and the backends that serve it (configuration order).
    pub(super) fn route_model(
        &self,
        requested: Option<&str>,
        deadline: Deadline,
    ) -> Result<(String, Vec<BackendId>), Error> {
        let backends = &self.settings().backends;
        let first = BackendId(0);
        let model = match requested
            .filter(|m| !m.is_empty())
            .or(self.settings().default_model.as_deref())
        {
            Some(m) => m.to_string(),
            None => match backends[0].models.first() {
                Some(m) => m.clone(),
                None => self.default_model(deadline)?,
            },
        };
        // One backend that declares no models: the server itself judges the model name.
        if backends.len() == 1 && backends[0].models.is_empty() {
            return Ok((model, vec![first]));
        }
        let mut eligible = Vec::new();
        let mut known = Vec::new();
        for b in self.backend_ids() {
            let backend = self.backend(b);
            let serves = if backend.models.is_empty() {
                match self.discover_for_routing(b, deadline).ok() {
                    Some(models) => {
                        let hit = models.iter().any(|m| m.id == model);
                        known.extend(models.into_iter().map(|m| m.id));
                        hit
                    }
                    // Never listed and not askable now: let the attempt (and its retries)
                    // find out; a cooling backend is avoided by the router anyway.
                    None => true,
                }
            } else {
                known.extend(backend.models.iter().cloned());
                backend.models.contains(&model)
            };
            if serves {
                eligible.push(b);
            }
        }
        if eligible.is_empty() {
            known.sort();
            known.dedup();
            let list = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            return Err(Error::new(
                ErrorCode::UnknownModel(known),
                format!("no backend serves model `{model}`; available: {list}"),
            ));
        }
        Ok((model, eligible))
    }

    /// Models of a backend: configured, or discovered (cached for `discovery-ttl-ms` unless
    /// `Fresh` is asked for).
    pub(super) fn models_of(
        &self,
        b: BackendId,
        deadline: Deadline,
        freshness: Freshness,
    ) -> Result<Vec<ModelInfo>, Error> {
        let backend = self.backend(b);
        if !backend.models.is_empty() {
            return Ok(backend
                .models
                .iter()
                .map(|id| ModelInfo {
                    id: id.clone(),
                    backend: backend.name.clone(),
                    owned_by: None,
                    max_model_len: None,
                })
                .collect());
        }
        let now = self.io().now_ms();
        if freshness == Freshness::Cached
            && let Some(models) =
                self.state().backends[b.0].discovered(now, self.settings().discovery_ttl_ms)
        {
            return Ok(models.to_vec());
        }
        let result = self.fetch_models(b, deadline);
        // Failures are not recorded here: the caller decides (the retry loop that asked
        // puts the backend in cooldown, and so does routing's discovery).
        if let Ok(models) = &result {
            self.state().backends[b.0].record_models(models.clone(), now);
        }
        result
    }

    /// The first backend's first model, for a request without one. A lone backend is asked
    /// with the retry policy a chat would get (and that counts as attempts). With others,
    /// a first backend that cannot answer (or is cooling down) is represented by its last
    /// listing, however old, else the next backend's listing is used — so a dead first
    /// backend does not fail the calls the others can serve.
    fn default_model(&self, deadline: Deadline) -> Result<String, Error> {
        let backends = &self.settings().backends;
        let first = BackendId(0);
        let models = if backends.len() == 1 {
            self.with_retries(&[first], deadline, Route::default(), |b, _| {
                self.models_of(b, deadline, Freshness::Cached)
                    .map_err(Failure::from)
            })?
        } else {
            let mut failure = None;
            let mut listing = |b: BackendId| match self.discover_for_routing(b, deadline) {
                Ok(models) => Some(models),
                Err(e) => {
                    failure = failure.take().or(e);
                    None
                }
            };
            let found = listing(first).or_else(|| {
                self.backend_ids()
                    .skip(1)
                    .find_map(|b| listing(b).filter(|models| !models.is_empty()))
            });
            match found {
                Some(models) => models,
                None => {
                    return Err(failure.unwrap_or_else(|| {
                        Error::new(
                            ErrorCode::Unavailable,
                            "no backend can list its models now (all are cooling down after \
                             failures); name the model in the request or set default-model",
                        )
                    }));
                }
            }
        };
        models.into_iter().next().map(|m| m.id).ok_or_else(|| {
            Error::invalid_config(format!(
                "backend `{}` serves no models; set default-model",
                backends[0].name
            ))
        })
    }

    /// A backend's models for routing: unless it is cooling down, the cached or a fresh
    /// listing (a failure that blames the backend starts its cooldown, so a dead server
    /// is not asked on every call); else its last listing, however old. `Err`: never listed
    /// and not askable now (with the failure, when it was asked).
    fn discover_for_routing(
        &self,
        b: BackendId,
        deadline: Deadline,
    ) -> Result<Vec<ModelInfo>, Option<Error>> {
        let now = self.io().now_ms();
        let cooling = self.state().backends[b.0].cooling(now).is_some();
        let mut failure = None;
        if !cooling {
            match self.models_of(b, deadline, Freshness::Cached) {
                Ok(models) => return Ok(models),
                Err(e) => {
                    if retry::is_backend_failure(&e) {
                        let cooldown = self.settings().cooldown;
                        self.state().backends[b.0].failed(now, &cooldown, None);
                    }
                    failure = Some(e);
                }
            }
        }
        match self.state().backends[b.0].last_discovered() {
            Some(models) => Ok(models.to_vec()),
            None => Err(failure),
        }
    }

    /// Detects the family of `auto` backends among `backends` that are not yet known
    /// (`GET /models`). An unreachable one stays unknown (built for as OpenAI-compatible)
    /// and is asked again on the next call.
    pub(super) fn detect_kinds(&self, backends: &[BackendId], deadline: Deadline) {
        for &b in backends {
            if self.backend(b).kind == BackendKind::Auto
                && self.state().backends[b.0].detected.is_none()
            {
                let _ = self.fetch_models(b, deadline);
            }
        }
    }

    /// Asks a backend for its models (and so, for `auto`, learns its family).
    fn fetch_models(&self, b: BackendId, deadline: Deadline) -> Result<Vec<ModelInfo>, Error> {
        let backend = self.backend(b);
        let result = self
            .fetch_json(
                b,
                super::calls::Endpoint::Api("/models"),
                None,
                self.timeouts().capped(PROBE_MS),
                deadline,
            )
            .map_err(|f| f.error)
            .and_then(|bytes| models::parse(&bytes, &backend.name));
        if let Ok(models) = &result
            && backend.kind == BackendKind::Auto
        {
            self.state().backends[b.0].detected = Some(models::family(models));
        }
        result.map_err(|e| Error {
            backend: Some(backend.name.clone()),
            ..e
        })
    }
}
