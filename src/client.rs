//! The `client` resource: validated settings plus routing state, and the call paths that tie
//! the pure modules (request, response, stream, routing, retry) to the wasi:http glue.

use crate::config::{self, Backend, Settings};
use crate::errors;
use crate::http::{self, Chunk, Deadline, PhaseTimeouts};
use crate::metrics;
use crate::request;
use crate::response::{self, DecodeOptions, Served};
use crate::retry;
use crate::routing::{Facts, Rng, Router};
use crate::sse::SseParser;
use crate::stream::Assembler;
use crate::tool_calls::IdSource;
use crate::types::{
    BackendHealth, ChatRequest, ChatResponse, ClientConfig, Error, ErrorCode, ModelInfo,
    ResponseFormat, StreamEvent, ToolCall,
};
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;

/// Limit for probes (`/health`, `/metrics`, `/models`): they must not hold a call up.
const PROBE_MS: u64 = 5_000;
/// Limit for a `/metrics` read made on the way to a chat call.
const METRICS_PROBE_MS: u64 = 1_000;
/// A backend without readable metrics is asked again after this many metrics TTLs.
const METRICS_MISS_TTLS: u64 = 30;
/// Error bodies are read up to this size (the error keeps 64 KiB of it).
const ERROR_BODY_MAX: u64 = 1024 * 1024;

pub struct Client {
    settings: Settings,
    state: RefCell<State>,
}

struct State {
    router: Router,
    rng: Rng,
    /// Per backend: models from `GET /models`, with the monotonic ms they were fetched.
    discovered: Vec<Option<(Vec<ModelInfo>, u64)>>,
    /// Per backend: load from `/metrics` (None = no metrics), with when it was read.
    readings: Vec<Option<(Option<f64>, u64)>>,
}

/// Ids for tool calls that arrived without one: `call_` + 16 random hex digits.
struct RandomIds<'a>(&'a mut Rng);

impl IdSource for RandomIds<'_> {
    fn next_id(&mut self) -> String {
        format!("call_{:016x}", self.0.next_u64())
    }
}

/// A 2xx answer from one attempt, with what it was for.
struct Answer<'a> {
    backend: &'a Backend,
    response: http::Response,
    model: &'a str,
    attempts: u32,
    deadline: &'a Deadline,
}

/// A failed attempt and what the server said about retrying.
struct Failure {
    error: Error,
    retry_after_ms: Option<u64>,
    should_retry: Option<bool>,
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

impl Client {
    pub fn open(config: ClientConfig) -> Result<Client, Error> {
        let settings = config::validate(config)?;
        let n = settings.backends.len();
        let (rng, start) = match settings.routing_seed {
            Some(seed) => (
                Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5851_f42d_4c95_7f2d),
                (seed % n as u64) as usize,
            ),
            None => {
                let mut rng = Rng::new(wasip2::random::random::get_random_u64());
                let start = (rng.next_u64() % n as u64) as usize;
                (rng, start)
            }
        };
        Ok(Client {
            state: RefCell::new(State {
                router: Router::new(settings.routing, n, start),
                rng,
                discovered: vec![None; n],
                readings: vec![None; n],
            }),
            settings,
        })
    }

    fn timeouts(&self) -> PhaseTimeouts {
        let t = &self.settings.timeouts;
        PhaseTimeouts {
            connect_ms: t.connect_ms,
            first_byte_ms: t.first_byte_ms,
            between_bytes_ms: t.between_bytes_ms,
        }
    }

    fn probe_timeouts(&self) -> PhaseTimeouts {
        let t = self.timeouts();
        PhaseTimeouts {
            connect_ms: t.connect_ms.min(PROBE_MS),
            first_byte_ms: t.first_byte_ms.min(PROBE_MS),
            between_bytes_ms: t.between_bytes_ms.min(PROBE_MS),
        }
    }

    fn deadline(&self, req: &ChatRequest) -> Deadline {
        Deadline::after_ms(
            req.timeout_ms
                .map_or(self.settings.timeouts.total_ms, u64::from),
        )
    }

    // ---------------------------------------------------------------------------------
    // Chat
    // ---------------------------------------------------------------------------------

    pub fn chat(&self, req: ChatRequest) -> Result<ChatResponse, Error> {
        let opts = DecodeOptions::for_request(&req);
        self.post_chat(&req, false, |answer| {
            let bytes = answer.response.body.read_all(
                self.settings.max_response_bytes,
                answer.deadline,
                &answer.backend.base,
            )?;
            let raw = response::parse(&bytes)?;
            let served = Served {
                backend: &answer.backend.name,
                requested_model: answer.model,
                attempts: answer.attempts,
            };
            let mut state = self.state.borrow_mut();
            Ok(response::decode(
                raw,
                &opts,
                &mut RandomIds(&mut state.rng),
                &served,
            )?)
        })
    }

    /// Validates, routes and sends a chat request (with retries over backends); `read` turns
    /// a 2xx answer into the result, or a failure that may be retried.
    fn post_chat<T>(
        &self,
        req: &ChatRequest,
        stream: bool,
        mut read: impl FnMut(Answer<'_>) -> Result<T, Failure>,
    ) -> Result<T, Error> {
        request::validate(req)?;
        let deadline = self.deadline(req);
        let (model, eligible) = self.route_model(req.model.as_deref(), &deadline)?;
        // Bodies built before routing, once per dialect (usually one): a backend whose
        // dialect cannot express the request (e.g. a grammar with tools on llama.cpp) is
        // left out, so routing picks among those that can; when none can, the refusal comes
        // back unsent.
        let mut bodies: Vec<(usize, Rc<Vec<u8>>)> = Vec::with_capacity(eligible.len());
        let mut refusal = None;
        for &b in &eligible {
            let backend = &self.settings.backends[b];
            let built = bodies
                .iter()
                .find(|(other, _)| self.settings.backends[*other].dialect() == backend.dialect())
                .map(|(_, body)| Ok(Rc::clone(body)))
                .unwrap_or_else(|| request::chat_body(req, &model, backend, stream).map(Rc::new));
            match built {
                Ok(body) => bodies.push((b, body)),
                Err(e) => {
                    refusal.get_or_insert(Error {
                        backend: Some(self.settings.backends[b].name.clone()),
                        ..e
                    });
                }
            }
        }
        let capable: Vec<usize> = bodies.iter().map(|(b, _)| *b).collect();
        if capable.is_empty() {
            return Err(refusal
                .unwrap_or_else(|| Error::invalid_request("no backend can take this request")));
        }
        let accept = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        self.with_retries(&capable, &deadline, req.routing_ticket, |b, attempts| {
            let backend = &self.settings.backends[b];
            let body = bodies
                .iter()
                .find(|(x, _)| *x == b)
                .map_or(&[][..], |(_, body)| body.as_slice());
            let response = self.exchange(
                backend,
                Some(body),
                "/chat/completions",
                accept,
                self.timeouts(),
                &deadline,
            )?;
            read(Answer {
                backend,
                response,
                model: &model,
                attempts,
                deadline: &deadline,
            })
        })
    }

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

    /// Starts a stream and waits for its first event, so that everything before the first
    /// event (connection, HTTP errors, an early error event) is retried like a plain call.
    pub fn chat_stream(&self, req: ChatRequest) -> Result<StreamState, Error> {
        let opts = DecodeOptions::for_request(&req);
        self.post_chat(&req, true, |answer| {
            let seed = self.state.borrow_mut().rng.next_u64();
            let is_json = answer
                .response
                .header("content-type")
                .is_some_and(|t| t.starts_with("application/json"));
            let mut stream = StreamState {
                backend: answer.backend.name.clone(),
                base: answer.backend.base.clone(),
                model: answer.model.to_string(),
                attempts: answer.attempts,
                is_json,
                body: answer.response.body,
                parser: SseParser::new(),
                assembler: Assembler::new(opts.clone()),
                queue: Vec::new(),
                outcome: None,
                json_bytes: Vec::new(),
                deadline: *answer.deadline,
                max_bytes: self.settings.max_response_bytes,
                rng: Rng::new(seed),
            };
            stream.fill(true);
            match stream.outcome.take() {
                Some(Err(e)) if stream.queue.is_empty() => Err(Failure::from(e)),
                other => {
                    stream.outcome = other;
                    Ok(stream)
                }
            }
        })
    }

    // ---------------------------------------------------------------------------------
    // Models and health
    // ---------------------------------------------------------------------------------

    pub fn list_models(&self) -> Result<Vec<ModelInfo>, Error> {
        let mut all = Vec::new();
        let mut first_error = None;
        for b in 0..self.settings.backends.len() {
            // Each backend gets its own limit: a slow one does not starve the next.
            let deadline = Deadline::after_ms(self.settings.timeouts.total_ms.min(PROBE_MS * 2));
            match self.models_of(b, &deadline, true) {
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

    pub fn health(&self) -> Vec<BackendHealth> {
        let now = http::now_ms();
        (0..self.settings.backends.len())
            .map(|b| {
                let backend = &self.settings.backends[b];
                let deadline = Deadline::after_ms(PROBE_MS * 2);
                let started = http::now_ms();
                let probe = self.probe(backend, "/health", &deadline);
                let latency_ms = u32::try_from(http::now_ms() - started).ok();
                let healthy = probe.is_ok();
                let load = if healthy {
                    self.read_load(b, &deadline, true)
                } else {
                    None
                };
                let models = if healthy {
                    self.models_of(b, &deadline, false)
                        .map(|m| m.into_iter().map(|m| m.id).collect())
                        .unwrap_or_default()
                } else {
                    backend.models.clone()
                };
                BackendHealth {
                    backend: backend.name.clone(),
                    base_url: backend.base.to_string(),
                    healthy,
                    latency_ms: latency_ms.filter(|_| healthy),
                    load: load.map(|l| l.round() as u32),
                    models,
                    cooldown_ms: self
                        .state
                        .borrow()
                        .router
                        .cooling(b, now)
                        .map(|ms| u32::try_from(ms).unwrap_or(u32::MAX)),
                    error: probe.err(),
                }
            })
            .collect()
    }

    // ---------------------------------------------------------------------------------
    // Routing
    // ---------------------------------------------------------------------------------

    /// The model to use and the backends that serve it (configuration order).
    fn route_model(
        &self,
        requested: Option<&str>,
        deadline: &Deadline,
    ) -> Result<(String, Vec<usize>), Error> {
        let backends = &self.settings.backends;
        let model = match requested
            .filter(|m| !m.is_empty())
            .or(self.settings.default_model.as_deref())
        {
            Some(m) => m.to_string(),
            None => match backends[0].models.first() {
                Some(m) => m.clone(),
                // Discovery gets the retry policy a chat would (and counts as attempts).
                None => self
                    .with_retries(&[0], deadline, None, |b, _| {
                        self.models_of(b, deadline, false).map_err(Failure::from)
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
            return Ok((model, vec![0]));
        }
        let mut eligible = Vec::new();
        let mut known = Vec::new();
        for (b, backend) in backends.iter().enumerate() {
            let serves = if backend.models.is_empty() {
                match self.models_of(b, deadline, false) {
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

    /// Runs `attempt` until it succeeds, a failure is final, attempts run out or the
    /// deadline passes. Each attempt goes to a backend picked by the routing strategy,
    /// preferring one not tried yet; failing backends cool down.
    fn with_retries<T>(
        &self,
        eligible: &[usize],
        deadline: &Deadline,
        ticket: Option<u64>,
        mut attempt: impl FnMut(usize, u32) -> Result<T, Failure>,
    ) -> Result<T, Error> {
        let max_attempts = self.settings.retry.max_attempts;
        let mut tried: Vec<usize> = Vec::new();
        let mut attempts = 0u32;
        loop {
            let b = self.pick(eligible, &tried, deadline, ticket);
            attempts += 1;
            let name = &self.settings.backends[b].name;
            let failure = match attempt(b, attempts) {
                Ok(value) => {
                    self.state.borrow_mut().router.succeeded(b);
                    return Ok(value);
                }
                Err(f) => f,
            };
            let mut error = failure.error;
            error.backend = Some(name.clone());
            error.attempts = attempts;
            if let Some(p) = &mut error.partial {
                p.attempts = attempts;
            }
            if let ErrorCode::UnknownModel(list) = &mut error.code
                && list.is_empty()
            {
                list.extend(self.settings.backends[b].models.iter().cloned());
            }
            if retry::is_backend_failure(&error) {
                let now = http::now_ms();
                let c = self.settings.cooldown;
                self.state
                    .borrow_mut()
                    .router
                    .failed(b, now, &c, failure.retry_after_ms);
            }
            if !retry::is_retryable(&error, failure.should_retry) || attempts >= max_attempts {
                return Err(error);
            }
            if !tried.contains(&b) {
                tried.push(b);
            }
            // Another untried, healthy backend: go now. Otherwise back off.
            let now = http::now_ms();
            let switch = {
                let state = self.state.borrow();
                eligible
                    .iter()
                    .any(|&o| !tried.contains(&o) && state.router.cooling(o, now).is_none())
            };
            let wait = if switch {
                0
            } else {
                let jitter = self.state.borrow_mut().rng.unit();
                match retry::wait_ms(
                    attempts - 1,
                    &self.settings.retry,
                    failure.retry_after_ms,
                    jitter,
                ) {
                    Some(w) => w,
                    None => {
                        error.message.push_str(
                            " (the server asked to wait longer than retry.max-retry-after-ms)",
                        );
                        return Err(error);
                    }
                }
            };
            if deadline.remaining_ms() <= wait {
                let last = error.message.clone();
                return Err(Error {
                    code: ErrorCode::Timeout(crate::types::TimeoutKind::Total),
                    message: format!(
                        "gave up after {attempts} attempt{}: the call's total time limit ran out; last error: {last}",
                        if attempts == 1 { "" } else { "s" }
                    ),
                    ..error
                });
            }
            if wait > 0 {
                http::sleep_ms(wait, deadline);
            }
        }
    }

    /// Picks a backend, refreshing `/metrics` readings for `least-loaded` and confirming a
    /// recovering backend with `/health` when configured to.
    fn pick(
        &self,
        eligible: &[usize],
        tried: &[usize],
        deadline: &Deadline,
        ticket: Option<u64>,
    ) -> usize {
        let strategy = self.state.borrow().router.strategy();
        if strategy == crate::types::RoutingStrategy::LeastLoaded {
            let now = http::now_ms();
            for &b in eligible {
                if self.state.borrow().router.cooling(b, now).is_none() {
                    self.read_load(b, deadline, false);
                }
            }
        }
        let mut excluded = tried.to_vec();
        loop {
            let now = http::now_ms();
            let facts: Vec<Facts> = {
                let state = self.state.borrow();
                self.settings
                    .backends
                    .iter()
                    .enumerate()
                    .map(|(b, backend)| Facts {
                        weight: backend.weight,
                        load: state.readings[b].and_then(|(load, _)| load),
                    })
                    .collect()
            };
            let chosen = {
                let mut state = self.state.borrow_mut();
                let State { router, rng, .. } = &mut *state;
                router
                    .pick(eligible, &excluded, now, &facts, rng, ticket)
                    .unwrap_or(eligible[0])
            };
            let recovering = self.state.borrow().router.recovering(chosen, now);
            if !(self.settings.cooldown.probe_health && recovering) || excluded.contains(&chosen) {
                return chosen;
            }
            let backend = &self.settings.backends[chosen];
            if self.probe(backend, "/health", deadline).is_ok() {
                return chosen;
            }
            let c = self.settings.cooldown;
            self.state.borrow_mut().router.failed(chosen, now, &c, None);
            excluded.push(chosen);
        }
    }

    /// The backend's load from `/metrics`, cached for `metrics-ttl-ms`; a backend without
    /// readable metrics is asked again only after `METRICS_MISS_TTLS` times that.
    fn read_load(&self, b: usize, deadline: &Deadline, fresh: bool) -> Option<f64> {
        let now = http::now_ms();
        if let Some((load, at)) = self.state.borrow().readings[b] {
            let ttl = self.settings.metrics_ttl_ms;
            let ttl = if load.is_some() {
                ttl
            } else {
                ttl.saturating_mul(METRICS_MISS_TTLS)
            };
            if !fresh && now.saturating_sub(at) < ttl {
                return load;
            }
        }
        let backend = &self.settings.backends[b];
        // A load reading only tunes routing: it must not hold the call up for long.
        let deadline = Deadline::after_ms(deadline.remaining_ms().min(METRICS_PROBE_MS));
        let load = self
            .probe(backend, "/metrics", &deadline)
            .ok()
            .and_then(|text| metrics::load(&text));
        let mut state = self.state.borrow_mut();
        state.readings[b] = Some((load, now));
        state.router.reading_refreshed(b);
        load
    }

    /// Models of a backend: configured, or discovered (cached for `discovery-ttl-ms` unless
    /// `fresh`).
    fn models_of(
        &self,
        b: usize,
        deadline: &Deadline,
        fresh: bool,
    ) -> Result<Vec<ModelInfo>, Error> {
        let backend = &self.settings.backends[b];
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
        let now = http::now_ms();
        if let Some((models, at)) = &self.state.borrow().discovered[b]
            && !fresh
            && now.saturating_sub(*at) < self.settings.discovery_ttl_ms
        {
            return Ok(models.clone());
        }
        let result = self
            .exchange(
                backend,
                None,
                "/models",
                "application/json",
                self.probe_timeouts(),
                deadline,
            )
            .and_then(|r| {
                Ok(r.body
                    .read_all(self.settings.max_response_bytes, deadline, &backend.base)?)
            })
            .map_err(|f| f.error)
            .and_then(|bytes| parse_models(&bytes, &backend.name));
        // Failures are not recorded here: the retry loop that asked (or the chat attempt
        // that follows a failed discovery) puts the backend in cooldown.
        if let Ok(models) = &result {
            self.state.borrow_mut().discovered[b] = Some((models.clone(), now));
        }
        result.map_err(|e| Error {
            backend: Some(backend.name.clone()),
            ..e
        })
    }

    /// GET of a server endpoint outside `/v1` (`/health`, `/metrics`); the body as text.
    fn probe(
        &self,
        backend: &Backend,
        endpoint: &str,
        deadline: &Deadline,
    ) -> Result<String, Error> {
        let deadline = Deadline::after_ms(deadline.remaining_ms().min(PROBE_MS));
        let req = http::Request {
            post: false,
            base: &backend.base,
            path: backend.base.server_path(endpoint),
            authorization: Some(&backend.authorization()),
            accept: "*/*",
            body: None,
        };
        let response = http::send(&req, self.probe_timeouts(), &deadline)?;
        let bytes = response
            .body
            .read_prefix(ERROR_BODY_MAX, &deadline, &backend.base);
        if !(200..300).contains(&response.status) {
            return Err(Error {
                backend: Some(backend.name.clone()),
                ..errors::from_status(response.status, &bytes, None, &req.path)
            });
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Sends to an OpenAI endpoint; a non-2xx answer becomes a `Failure` with the server's
    /// body, message and retry hints.
    fn exchange(
        &self,
        backend: &Backend,
        body: Option<&[u8]>,
        endpoint: &str,
        accept: &str,
        timeouts: PhaseTimeouts,
        deadline: &Deadline,
    ) -> Result<http::Response, Failure> {
        let authorization = backend.authorization();
        let req = http::Request {
            post: body.is_some(),
            base: &backend.base,
            path: backend.base.api_path(endpoint),
            authorization: Some(&authorization),
            accept,
            body,
        };
        let response = http::send(&req, timeouts, deadline)?;
        if (200..300).contains(&response.status) {
            return Ok(response);
        }
        let now_s = wasip2::clocks::wall_clock::now().seconds;
        let retry_after_ms = retry::retry_after_ms(
            response.header("retry-after-ms").as_deref(),
            response.header("retry-after").as_deref(),
            now_s,
        );
        let should_retry = retry::should_retry(response.header("x-should-retry").as_deref());
        let status = response.status;
        let bytes = response
            .body
            .read_prefix(ERROR_BODY_MAX, deadline, &backend.base);
        let error = errors::from_status(status, &bytes, retry_after_ms, &req.path);
        Err(Failure {
            error,
            retry_after_ms,
            should_retry,
        })
    }
}

fn output_error(message: &str, response: ChatResponse) -> Error {
    Error {
        backend: Some(response.backend.clone()),
        attempts: response.attempts,
        ..Error::new(ErrorCode::InvalidOutput, message).with_partial(response)
    }
}

/// Reads `{"data":[{"id","owned_by","max_model_len"|"meta":{"n_ctx"}}]}` (vLLM, SGLang,
/// llama.cpp). A rare path: read through `Value` rather than typed structs, to keep the
/// component small.
fn parse_models(body: &[u8], backend: &str) -> Result<Vec<ModelInfo>, Error> {
    let malformed = |why: String| Error {
        body: Some(errors::kept_body(body)),
        ..Error::malformed(format!(
            "the model list from `{backend}` is not an OpenAI model list ({why})"
        ))
    };
    let list: Value = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let data = list
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("no `data` list".into()))?;
    data.iter()
        .map(|m| {
            let id = m
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("a model has no `id`".into()))?;
            // vLLM says max_model_len; llama.cpp puts its context size under meta.n_ctx.
            let len = m
                .get("max_model_len")
                .or_else(|| m.get("meta").and_then(|meta| meta.get("n_ctx")));
            Ok(ModelInfo {
                id: id.to_string(),
                backend: backend.to_string(),
                owned_by: m
                    .get("owned_by")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                max_model_len: len
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok()),
            })
        })
        .collect()
}

// -------------------------------------------------------------------------------------
// Streams
// -------------------------------------------------------------------------------------

/// A chat being streamed: the open body, the SSE parser, the assembler and the events
/// ready for the caller.
pub struct StreamState {
    backend: String,
    base: crate::url::BaseUrl,
    model: String,
    attempts: u32,
    /// The server ignored `stream: true` and sent one JSON completion.
    is_json: bool,
    body: http::Body,
    parser: SseParser,
    assembler: Assembler,
    queue: Vec<StreamEvent>,
    /// How the stream ended, once it has (the `done` event is queued on success).
    outcome: Option<Result<(), Error>>,
    /// Body of a non-SSE answer (see `is_json`).
    json_bytes: Vec<u8>,
    deadline: Deadline,
    max_bytes: u64,
    rng: Rng,
}

impl StreamState {
    /// Events ready now; with `wait`, waits until at least one is ready or the stream ended.
    pub fn next(&mut self, wait: bool) -> Result<Vec<StreamEvent>, Error> {
        if self.queue.is_empty() && self.outcome.is_none() {
            self.fill(wait);
        }
        if !self.queue.is_empty() {
            return Ok(std::mem::take(&mut self.queue));
        }
        match self.outcome.take() {
            Some(Err(e)) => {
                // Delivered once; afterwards the stream reads as ended.
                self.outcome = Some(Ok(()));
                Err(e)
            }
            Some(Ok(())) => {
                self.outcome = Some(Ok(()));
                Ok(Vec::new())
            }
            None => Ok(Vec::new()),
        }
    }

    /// Ready when `next` would not wait.
    pub fn subscribe(&self) -> wasip2::io::poll::Pollable {
        // Past the deadline, `next` has the timeout to report: ready at once.
        if !self.queue.is_empty() || self.outcome.is_some() || self.deadline.remaining_ms() == 0 {
            wasip2::clocks::monotonic_clock::subscribe_duration(0)
        } else {
            self.body.subscribe()
        }
    }

    /// Reads from the body until an event is queued or the stream ends (or, without `wait`,
    /// until nothing more has arrived).
    fn fill(&mut self, wait: bool) {
        while self.queue.is_empty() && self.outcome.is_none() {
            let chunk = match self.body.read_chunk(wait, &self.deadline, &self.base) {
                Ok(c) => c,
                Err(e) => return self.fail(e),
            };
            match chunk {
                // The waiting path enforces the deadline in `read_chunk`; a host polling
                // `next` gets it here.
                Chunk::Pending if self.deadline.remaining_ms() == 0 => {
                    return self.fail(http::total_timeout());
                }
                Chunk::Pending => return,
                Chunk::Data(bytes) if self.is_json => {
                    if self.body.read > self.max_bytes {
                        return self.fail(http::too_large(self.max_bytes));
                    }
                    self.json_bytes.extend_from_slice(&bytes);
                }
                Chunk::Data(bytes) => {
                    if self.body.read > self.max_bytes {
                        return self.fail(http::too_large(self.max_bytes));
                    }
                    let (parser, assembler, queue) =
                        (&mut self.parser, &mut self.assembler, &mut self.queue);
                    parser.push(&bytes, &mut |data| assembler.on_data(data, queue));
                    if self.assembler.ended() {
                        self.drain_arrived();
                        return self.end();
                    }
                }
                Chunk::End => {
                    if self.is_json {
                        return self.end_json();
                    }
                    let (parser, assembler, queue) =
                        (&mut self.parser, &mut self.assembler, &mut self.queue);
                    parser.finish(&mut |data| assembler.on_data(data, queue));
                    return self.end();
                }
            }
        }
    }

    /// After `[DONE]`, reads what already arrived (typically the chunked body's terminator)
    /// without waiting, so the host sees the body finished and can reuse the connection.
    fn drain_arrived(&mut self) {
        // Bounded by the response limit: a server that keeps sending is not read forever.
        while self.body.read <= self.max_bytes
            && let Ok(Chunk::Data(_)) = self.body.read_chunk(false, &self.deadline, &self.base)
        {
        }
    }

    fn end(&mut self) {
        let served = Served {
            backend: &self.backend,
            requested_model: &self.model,
            attempts: self.attempts,
        };
        let result = self
            .assembler
            .finish(&served, &mut RandomIds(&mut self.rng), &mut self.queue);
        self.outcome = Some(match result {
            Ok(response) => {
                self.queue.push(StreamEvent::Done(response));
                Ok(())
            }
            Err(e) => Err(e),
        });
    }

    /// The server answered a stream request with one JSON completion: replay it as events.
    fn end_json(&mut self) {
        let bytes = std::mem::take(&mut self.json_bytes);
        let result = {
            let served = Served {
                backend: &self.backend,
                requested_model: &self.model,
                attempts: self.attempts,
            };
            response::parse(&bytes).and_then(|raw| {
                response::decode(
                    raw,
                    self.assembler.options(),
                    &mut RandomIds(&mut self.rng),
                    &served,
                )
            })
        };
        self.outcome = Some(match result {
            Ok(response) => {
                if let Some(r) = &response.reasoning {
                    self.queue.push(StreamEvent::Reasoning(r.clone()));
                }
                if let Some(c) = &response.content {
                    self.queue.push(StreamEvent::Content(c.clone()));
                }
                for (i, c) in response.tool_calls.iter().enumerate() {
                    self.queue
                        .push(StreamEvent::ToolCall(crate::types::ToolCallDelta {
                            index: u32::try_from(i).unwrap_or(u32::MAX),
                            id: Some(c.id.clone()),
                            name: Some(c.name.clone()),
                            arguments: c.arguments.clone(),
                        }));
                }
                self.queue.push(StreamEvent::Done(response));
                Ok(())
            }
            Err(e) => Err(e),
        });
    }

    fn fail(&mut self, error: Error) {
        let served = Served {
            backend: &self.backend,
            requested_model: &self.model,
            attempts: self.attempts,
        };
        let error = self
            .assembler
            .failure(error, &served, &mut RandomIds(&mut self.rng));
        self.outcome = Some(Err(error));
    }
}
