//! Which model a call uses and which backends serve it: the request's model, else the
//! configured default, else the first backend's first model; backends that declare no
//! models are asked (`GET /models`, cached for `discovery-ttl-ms`).

use super::Client;
use super::calls::Failure;
use super::probes::PROBE_MS;
use crate::io::{Deadline, Io};
use crate::routing::{BackendId, Route};
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
                // Discovery gets the retry policy a chat would (and counts as attempts).
                None => self
                    .with_retries(&[first], deadline, Route::default(), |b, _| {
                        self.models_of(b, deadline, Freshness::Cached)
                            .map_err(Failure::from)
                    })?
                    .into_iter()
                    .next()
                    .map(|m| m.id)
                    .ok_or_else(|| {
                        Error::invalid_config(format!(
                            "backend `{}` serves no models; set default-model",
                            backends[0].name
                        ))
                    })?,
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
                match self.models_of(b, deadline, Freshness::Cached) {
                    Ok(models) => {
                        let hit = models.iter().any(|m| m.id == model);
                        known.extend(models.into_iter().map(|m| m.id));
                        hit
                    }
                    // Unreachable for discovery: let the attempt (and its retries) find out.
                    Err(_) => true,
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
        // Failures are not recorded here: the retry loop that asked (or the chat attempt
        // that follows a failed discovery) puts the backend in cooldown.
        if let Ok(models) = &result {
            self.state().backends[b.0].record_models(models.clone(), now);
        }
        result
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
