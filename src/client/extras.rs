//! The client's calls besides chat: counting a request's prompt tokens on a server that
//! serves its model, and embedding texts in batches. Both route, retry and obey the limits
//! exactly as a chat does (`discovery`, `retries`, `calls::exchange`).

use super::Client;
use super::calls::{CallIds, Endpoint, Failure};
use super::discovery::Freshness;
use crate::decode::resume::sum_usage;
use crate::io::Io;
use crate::routing::{Route, affinity};
use crate::types::{
    BackendKind, ChatRequest, EmbedRequest, Embeddings, Error, RoutingStrategy, TokenCount,
};
use crate::wire::{embeddings, request, tokens};

/// Texts per embeddings request unless the request says.
pub const DEFAULT_EMBED_BATCH: u32 = 64;

impl<I: Io> Client<I> {
    /// The prompt tokens `req` would use, as a server that serves its model counts them.
    pub fn count_tokens(&self, req: ChatRequest) -> Result<TokenCount, Error> {
        request::validate(&req)?;
        let deadline = self.call_deadline(&req);
        let (model, eligible) = self.route_model(req.model.as_deref(), deadline)?;
        self.detect_kinds(&eligible, deadline);
        let route = Route {
            ticket: req.routing_ticket,
            affinity: (self.settings().routing == RoutingStrategy::CacheAware)
                .then(|| affinity::session_key(&req)),
        };
        self.with_retries(&eligible, deadline, route, |b, _| {
            let backend = self.resolved_backend(b);
            let call = CallIds {
                request_id: "",
                model: &model,
                stream: false,
                send_priority: false,
            };
            let chat = request::chat_body_with(&req, &backend, &call)?;
            let (endpoint, body) = match backend.kind {
                BackendKind::Vllm | BackendKind::Sglang => {
                    (Endpoint::Server("/tokenize"), tokens::tokenize_body(&chat)?)
                }
                BackendKind::OpenaiCompatible | BackendKind::Auto => {
                    (Endpoint::Api("/chat/completions/input_tokens"), chat)
                }
            };
            let bytes = self.fetch_json(b, endpoint, Some(&body), self.timeouts(), deadline)?;
            let (prompt_tokens, said) = tokens::parse(&bytes, &backend.name)?;
            // llama.cpp says its context size in the model list (`meta.n_ctx`).
            let max_model_len = said.or_else(|| {
                self.models_of(b, deadline, Freshness::Cached)
                    .ok()?
                    .into_iter()
                    .find(|m| m.id == model)
                    .and_then(|m| m.max_model_len)
            });
            Ok(TokenCount {
                prompt_tokens,
                max_model_len,
                model: model.clone(),
                backend: backend.name.clone(),
            })
        })
    }

    /// Embeddings of the request's texts, in batches of `batch-size`, in input order.
    pub fn embed(&self, req: EmbedRequest) -> Result<Embeddings, Error> {
        if req.inputs.is_empty() {
            return Err(Error::invalid_request("embed needs at least one input"));
        }
        if req.timeout_ms == Some(0) {
            return Err(Error::invalid_request("timeout-ms must be at least 1"));
        }
        let batch = req.batch_size.unwrap_or(DEFAULT_EMBED_BATCH).max(1) as usize;
        let deadline = self.deadline_in(
            req.timeout_ms
                .map_or(self.settings().timeouts.total_ms, u64::from),
        );
        let (model, eligible) = self.route_model(req.model.as_deref(), deadline)?;
        let mut out = Embeddings {
            vectors: Vec::with_capacity(req.inputs.len()),
            model: model.clone(),
            usage: None,
            backend: String::new(),
            attempts: 0,
        };
        for chunk in req.inputs.chunks(batch) {
            let body = embeddings::body(chunk, &model, req.dimensions);
            let (answer, name, attempts) =
                self.with_retries(&eligible, deadline, Route::default(), |b, attempts| {
                    let backend = self.backend(b);
                    let bytes = self.fetch_json(
                        b,
                        Endpoint::Api("/embeddings"),
                        Some(&body),
                        self.timeouts(),
                        deadline,
                    )?;
                    let answer = embeddings::parse(&bytes, chunk.len(), &backend.name)
                        .map_err(Failure::from)?;
                    Ok((answer, backend.name.clone(), attempts))
                })?;
            out.vectors.extend(answer.vectors);
            if let Some(m) = answer.model.filter(|m| !m.is_empty()) {
                out.model = m;
            }
            out.usage = sum_usage(out.usage, answer.usage);
            out.backend = name;
            out.attempts += attempts;
        }
        Ok(out)
    }
}
