//! The `client` resource's behaviour: validated settings, what it remembers about each
//! backend, and the call paths (`chat`, the JSON and tool-call modes, streams, model listing,
//! health). Generic over [`Io`], so every decision is unit-tested natively with a scripted
//! transport and a fake clock (`fake`); the component runs it over WASI.
//!
//! One call's path: `calls::post` validates the request, `discovery` finds the model and the
//! backends that serve it, the request body is built once per dialect, and `retries` runs
//! attempts — each on a backend `picking` chose — until one answers or the policy gives up.
//! A 2xx answer is read whole (`chat`) or handed to a `stream::ChatStream`.

mod calls;
mod discovery;
mod extras;
#[cfg(test)]
mod fake;
mod picking;
mod probes;
mod retries;
mod stream;
#[cfg(test)]
mod tests;

pub use stream::ChatStream;

use crate::config::{self, Backend, Settings};
use crate::decode::answer::{self, DecodeOptions, Served};
use crate::decode::resume;
use crate::decode::tool_calls::IdSource;
use crate::io::{self, Deadline, Io, PhaseTimeouts};
use crate::redact::Redactor;
use crate::routing::{BackendId, BackendState, Rng, Router};
use crate::types::{
    BackendHealth, BackendKind, ChatRequest, ChatResponse, Checkpoint, ClientConfig, Error,
    ErrorCode, ModelInfo, ResponseFormat, ToolCall,
};
use crate::wire::completion;
use calls::Mode;
use std::cell::{RefCell, RefMut};
use std::rc::Rc;

/// A configured client over one or more backends. Cheap to clone; clones (and the streams it
/// starts) share its routing state.
pub struct Client<I: Io> {
    core: Rc<Core<I>>,
}

impl<I: Io> Clone for Client<I> {
    fn clone(&self) -> Self {
        Client {
            core: Rc::clone(&self.core),
        }
    }
}

/// What every call of a client shares.
struct Core<I> {
    io: I,
    settings: Settings,
    /// The configured keys, for what leaves the component.
    redactor: Redactor,
    state: RefCell<State>,
}

/// What a client remembers between calls.
struct State {
    router: Router,
    rng: Rng,
    /// One record per configured backend, indexed by `BackendId`.
    backends: Vec<BackendState>,
}

/// Ids for tool calls that arrived without one: `call_` + 16 random hex digits.
struct RandomIds<'a>(&'a mut Rng);

impl IdSource for RandomIds<'_> {
    fn next_id(&mut self) -> String {
        format!("call_{:016x}", self.0.next_u64())
    }
}

impl<I: Io> Client<I> {
    /// Validates the configuration and creates a client; no network I/O.
    pub fn open(config: ClientConfig, io: I) -> Result<Client<I>, Error> {
        let settings = config::validate(config)?;
        let n = settings.backends.len();
        let (rng, start) = match settings.routing_seed {
            Some(seed) => (
                Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5851_f42d_4c95_7f2d),
                (seed % n as u64) as usize,
            ),
            None => {
                let mut rng = Rng::new(io.random_u64());
                let start = (rng.next_u64() % n as u64) as usize;
                (rng, start)
            }
        };
        let redactor = Redactor::new(
            settings
                .backends
                .iter()
                .filter_map(|b| b.api_key.as_deref()),
        );
        Ok(Client {
            core: Rc::new(Core {
                io,
                redactor,
                state: RefCell::new(State {
                    router: Router::new(settings.routing, n, start)
                        .with_margin(settings.cache_aware_margin),
                    rng,
                    backends: vec![BackendState::default(); n],
                }),
                settings,
            }),
        })
    }

    /// Replaces the configured keys in what this client returns (the exports apply it to
    /// every result, error and stream event).
    pub fn redactor(&self) -> &Redactor {
        &self.core.redactor
    }

    /// One chat completion (AIOS `llm_chat`).
    pub fn chat(&self, req: ChatRequest) -> Result<ChatResponse, Error> {
        let opts = DecodeOptions::for_request(&req);
        let max = self.settings().max_response_bytes;
        let from = req.continue_from.as_ref();
        self.post(&req, Mode::Whole, |mut answer| {
            let bytes = io::read_all(&mut answer.response, max, answer.deadline)?;
            let mut raw = completion::parse(&bytes)?;
            drop(bytes); // the answer is held once from here on
            if let Some(from) = from {
                // llama.cpp's whole answers repeat the prefilled text.
                let repeats = answer.kind == BackendKind::OpenaiCompatible;
                resume::continue_raw(&mut raw, from, repeats);
            }
            let served = Served {
                backend: &answer.backend.name,
                requested_model: answer.model,
                attempts: from.map_or(0, |f| f.attempts) + answer.attempts,
                earlier: from.map_or(&[][..], |f| &f.backends),
            };
            Ok(answer::decode(
                raw,
                &opts,
                &mut RandomIds(&mut self.state().rng),
                &served,
            )?)
        })
    }

    /// Chat asking for JSON (AIOS `llm_chat_with_json_output`): `json-object` unless the
    /// request sets a JSON format; the content must parse.
    pub fn chat_with_json_output(&self, mut req: ChatRequest) -> Result<String, Error> {
        if !matches!(
            req.response_format,
            Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema(_))
        ) {
            req.response_format = Some(ResponseFormat::JsonObject);
        }
        let response = self.chat(req)?;
        match &response.content {
            Some(json) if response.tool_calls.is_empty() => Ok(json.clone()),
            _ => Err(output_error(
                "a JSON answer was asked for, but the model called a tool instead",
                response,
            )),
        }
    }

    /// Chat expecting tool calls (AIOS `llm_chat_with_tool_call_output`).
    pub fn chat_with_tool_call_output(&self, req: ChatRequest) -> Result<Vec<ToolCall>, Error> {
        if req.tools.is_empty() {
            return Err(Error::invalid_request(
                "chat-with-tool-call-output needs at least one tool in the request",
            ));
        }
        let response = self.chat(req)?;
        if let Some(bad) = response.invalid_tool_calls.first() {
            let message = format!(
                "the model called `{}` with unusable arguments: {}",
                bad.name, bad.error
            );
            return Err(output_error(&message, response));
        }
        if response.tool_calls.is_empty() {
            return Err(output_error(
                "a tool call was expected, but the model answered with text",
                response,
            ));
        }
        Ok(response.tool_calls)
    }

    /// Starts a streamed chat and returns once its first event has arrived, so everything
    /// before it (connection, HTTP errors, an early error event) is retried like a call.
    pub fn chat_stream(&self, req: ChatRequest) -> Result<ChatStream<I>, Error> {
        let opts = DecodeOptions::for_request(&req);
        self.post(&req, Mode::Stream, |answer| {
            let seed = self.state().rng.next_u64();
            ChatStream::start(self.clone(), &req, answer, opts.clone(), seed)
        })
    }

    /// Continues a suspended generation on any backend that serves its model.
    pub fn resume(&self, checkpoint: Checkpoint) -> Result<ChatStream<I>, Error> {
        let mut req = checkpoint.request;
        req.continue_from = Some(checkpoint.generated);
        self.chat_stream(req)
    }

    /// Models of every backend (configured, or fresh from `GET /models`); fails only when
    /// no backend answered.
    pub fn list_models(&self) -> Result<Vec<ModelInfo>, Error> {
        let mut all = Vec::new();
        let mut first_error = None;
        for b in self.backend_ids() {
            // Each backend gets its own limit: a slow one does not starve the next.
            let deadline =
                self.deadline_in(self.settings().timeouts.total_ms.min(probes::PROBE_MS * 2));
            match self.models_of(b, deadline, discovery::Freshness::Fresh) {
                Ok(models) => all.extend(models),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if all.is_empty() => Err(e),
            _ => Ok(all),
        }
    }

    /// Probes every backend (`/health`, `/metrics`, models); never fails as a whole.
    pub fn health(&self) -> Vec<BackendHealth> {
        self.backend_ids().map(|b| self.health_of(b)).collect()
    }

    // ---- shared helpers of the call paths ----

    fn io(&self) -> &I {
        &self.core.io
    }

    fn settings(&self) -> &Settings {
        &self.core.settings
    }

    fn state(&self) -> RefMut<'_, State> {
        self.core.state.borrow_mut()
    }

    fn backend(&self, b: BackendId) -> &Backend {
        &self.settings().backends[b.0]
    }

    fn backend_ids(&self) -> impl Iterator<Item = BackendId> + use<I> {
        (0..self.settings().backends.len()).map(BackendId)
    }

    fn deadline_in(&self, ms: u64) -> Deadline {
        self.io().deadline_in(ms)
    }

    /// The call's deadline: the request's own limit, else the configured total.
    fn call_deadline(&self, req: &ChatRequest) -> Deadline {
        self.deadline_in(
            req.timeout_ms
                .map_or(self.settings().timeouts.total_ms, u64::from),
        )
    }

    fn timeouts(&self) -> PhaseTimeouts {
        let t = &self.settings().timeouts;
        PhaseTimeouts {
            connect_ms: t.connect_ms,
            first_byte_ms: t.first_byte_ms,
            between_bytes_ms: t.between_bytes_ms,
        }
    }
}

/// An `invalid-output` error carrying the response that did not fit the mode.
fn output_error(message: &str, response: ChatResponse) -> Error {
    Error {
        backend: Some(response.backend.clone()),
        attempts: response.attempts,
        ..Error::new(ErrorCode::InvalidOutput, message).with_partial(response)
    }
}
