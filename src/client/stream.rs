//! A chat being streamed: the open body, the SSE parser, the assembler and the events ready
//! for the caller. Its states: *open* (reading; events may be queued), *ended* (the `done`
//! event is queued, or the failure is waiting to be delivered once), *finished* (everything
//! delivered: further reads give nothing). A server that ignored `stream: true` and sent one
//! JSON completion is replayed as events.
//!
//! A stream is also a schedulable generation: `suspend` cancels it and returns a checkpoint
//! of what the events delivered; when its backend fails mid-way, it continues on another
//! backend from that same point (`continue-from`), so the caller's events go on with nothing
//! repeated or lost; dropping it cancels the request (and tells SGLang by its `rid`).

use super::calls::{Answer, Failure};
use super::probes::PROBE_MS;
use super::{Client, RandomIds};
use crate::decode::answer::{self, DecodeOptions, Served};
use crate::decode::assembler::Assembler;
use crate::errors;
use crate::io::{Chunk, Deadline, Incoming, Io, Method, Request, Wait};
use crate::routing::{BackendId, Rng, retry};
use crate::types::{
    BackendKind, ChatRequest, Checkpoint, Error, Generated, StreamEvent, ToolCallDelta,
};
use crate::wire::completion;
use crate::wire::sse::SseParser;

/// How the server framed its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// Server-sent events, as asked.
    Events,
    /// One JSON completion (the server ignored `stream: true`).
    Json,
}

/// A streamed chat; see the module docs for its states.
pub struct ChatStream<I: Io> {
    client: Client<I>,
    /// The request as made (with `continue-from` when this stream continues an answer).
    request: ChatRequest,
    request_id: String,
    backend_id: BackendId,
    /// The family the request was built for (SGLang is told about cancellations).
    kind: BackendKind,
    backend: String,
    model: String,
    attempts: u32,
    framing: Framing,
    /// `None` once the stream was cancelled (suspended).
    body: Option<I::Incoming>,
    parser: SseParser,
    assembler: Assembler,
    queue: Vec<StreamEvent>,
    /// How the stream ended, once it has (the `done` event is queued on success).
    outcome: Option<Result<(), Error>>,
    /// Body of a JSON-framed answer.
    json_bytes: Vec<u8>,
    deadline: Deadline,
    rng: Rng,
}

impl<I: Io> ChatStream<I> {
    /// Wraps a 2xx answer and reads until its first event: a failure before any event is
    /// returned as a `Failure`, so the call is retried like a plain one.
    pub(super) fn start(
        client: Client<I>,
        request: &ChatRequest,
        answer: Answer<'_, I::Incoming>,
        opts: DecodeOptions,
        seed: u64,
    ) -> Result<ChatStream<I>, Failure> {
        let framing = match answer.response.header("content-type") {
            Some(t) if t.starts_with("application/json") => Framing::Json,
            _ => Framing::Events,
        };
        let assembler = match &request.continue_from {
            Some(from) => Assembler::continuing(opts, from.clone()),
            None => Assembler::new(opts),
        };
        let mut stream = ChatStream {
            client,
            request: request.clone(),
            request_id: answer.request_id.to_string(),
            backend_id: answer.backend_id,
            kind: answer.kind,
            backend: answer.backend.name.clone(),
            model: answer.model.to_string(),
            attempts: answer.attempts,
            framing,
            body: Some(answer.response),
            parser: SseParser::new(),
            assembler,
            queue: Vec::new(),
            outcome: None,
            json_bytes: Vec::new(),
            deadline: answer.deadline,
            rng: Rng::new(seed),
        };
        stream.fill(Wait::Block);
        match stream.outcome.take() {
            Some(Err(e)) if stream.queue.is_empty() => {
                stream.body = None; // nothing to cancel: it already failed
                Err(Failure::from(e))
            }
            other => {
                stream.outcome = other;
                Ok(stream)
            }
        }
    }

    /// The events that are ready; with `Wait::Block`, waits until at least one is ready or
    /// the stream ended. A failure is returned once, with the partial response; after the
    /// end, an empty list.
    pub fn next(&mut self, wait: Wait) -> Result<Vec<StreamEvent>, Error> {
        if self.queue.is_empty() && self.outcome.is_none() {
            self.fill(wait);
        }
        if !self.queue.is_empty() {
            return Ok(std::mem::take(&mut self.queue));
        }
        match self.outcome.replace(Ok(())) {
            Some(Err(e)) => Err(e),
            Some(Ok(())) => Ok(Vec::new()),
            None => {
                self.outcome = None;
                Ok(Vec::new())
            }
        }
    }

    /// True when `next` would not wait: events are queued, the stream ended, or the call's
    /// deadline passed (`next` then reports the timeout).
    pub fn ready_now(&self) -> bool {
        !self.queue.is_empty()
            || self.outcome.is_some()
            || self.body.is_none()
            || self.deadline.remaining_ms(self.client.io().now_ns()) == 0
    }

    /// The open body (the WASI glue subscribes to it); `None` once cancelled.
    pub fn body(&self) -> Option<&I::Incoming> {
        self.body.as_ref()
    }

    /// Stops the generation and returns where it got to: the request as first made and the
    /// text the events delivered (held-back text is generated again on resume). Events
    /// queued but not yet taken are dropped with the stream; take them with `next` first.
    pub fn suspend(&mut self) -> Checkpoint {
        let generated = self.generated();
        self.cancel();
        self.queue.clear();
        self.outcome = Some(Ok(()));
        let mut request = self.request.clone();
        request.continue_from = None;
        Checkpoint { request, generated }
    }

    /// What this stream (and those it continues) generated so far, as delivered.
    fn generated(&self) -> Generated {
        let so_far = self.assembler.so_far();
        let from = self.request.continue_from.as_ref();
        let mut backends = from.map(|f| f.backends.clone()).unwrap_or_default();
        backends.push(self.backend.clone());
        Generated {
            content: so_far.content.unwrap_or_default(),
            reasoning: so_far.reasoning.unwrap_or_default(),
            usage: so_far.usage,
            backends,
            attempts: from.map_or(0, |f| f.attempts) + self.attempts,
        }
    }

    /// Closes the connection (vLLM and llama.cpp stop generating when it closes) and, for
    /// SGLang, asks the server to abort the request by its `rid` (best effort).
    fn cancel(&mut self) {
        let Some(body) = self.body.take() else {
            return;
        };
        drop(body);
        if self.kind == BackendKind::Sglang && self.outcome.is_none() {
            self.client.abort_request(self.backend_id, &self.request_id);
        }
    }

    /// Reads until an event is queued or the stream ends (with `Wait::Poll`, until nothing
    /// more has arrived).
    fn fill(&mut self, wait: Wait) {
        let max = self.client.settings().max_response_bytes;
        while self.queue.is_empty() && self.outcome.is_none() {
            let Some(body) = self.body.as_mut() else {
                return;
            };
            let chunk = match body.read_chunk(wait, self.deadline) {
                Ok(c) => c,
                Err(e) => return self.fail(e),
            };
            let bytes_read = body.bytes_read();
            match chunk {
                // The blocking path enforces the deadline in `read_chunk`; a host polling
                // `next` meets it here.
                Chunk::Pending if self.deadline.remaining_ms(self.client.io().now_ns()) == 0 => {
                    return self.fail(errors::total_timeout());
                }
                Chunk::Pending => return,
                Chunk::Data(bytes) if bytes_read > max => {
                    // The events complete before the cap still count: they reach the
                    // caller and the partial response.
                    let over = usize::try_from(bytes_read - max).unwrap_or(usize::MAX);
                    let within = bytes.len().saturating_sub(over);
                    if self.framing == Framing::Events {
                        let (parser, assembler, queue) =
                            (&mut self.parser, &mut self.assembler, &mut self.queue);
                        parser.push(&bytes[..within], &mut |data| assembler.on_data(data, queue));
                    }
                    return self.fail(errors::too_large(max));
                }
                Chunk::Data(bytes) if self.framing == Framing::Json => {
                    self.json_bytes.extend_from_slice(&bytes);
                }
                Chunk::Data(bytes) => {
                    let (parser, assembler, queue) =
                        (&mut self.parser, &mut self.assembler, &mut self.queue);
                    parser.push(&bytes, &mut |data| assembler.on_data(data, queue));
                    if self.assembler.ended() {
                        self.drain_arrived();
                        return self.end();
                    }
                }
                Chunk::End if self.framing == Framing::Json => return self.end_json(),
                Chunk::End => {
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
        let max = self.client.settings().max_response_bytes;
        let Some(body) = self.body.as_mut() else {
            return;
        };
        while body.bytes_read() <= max
            && let Ok(Chunk::Data(_)) = body.read_chunk(Wait::Poll, self.deadline)
        {}
    }

    /// Where the answer comes from, for the record (owned, so the assembler can be borrowed
    /// mutably while it is in use).
    fn origin(&self) -> Origin {
        let (earlier, attempts) = match &self.request.continue_from {
            Some(from) => (from.backends.clone(), from.attempts + self.attempts),
            None => (Vec::new(), self.attempts),
        };
        Origin {
            backend: self.backend.clone(),
            model: self.model.clone(),
            earlier,
            attempts,
        }
    }

    fn end(&mut self) {
        // A stream cut before the server finished, or an error event: continue elsewhere
        // when the policy allows, else report it with the partial response.
        if !self.assembler.ended_cleanly() && self.failover(None) {
            return;
        }
        let origin = self.origin();
        let served = origin.served();
        let result = self
            .assembler
            .finish(&served, &mut RandomIds(&mut self.rng), &mut self.queue);
        self.outcome = Some(result.map(|response| self.queue.push(StreamEvent::Done(response))));
    }

    /// The server answered a stream request with one JSON completion: replay it as events.
    fn end_json(&mut self) {
        let bytes = std::mem::take(&mut self.json_bytes);
        let origin = self.origin();
        let served = origin.served();
        let repeats_prefill = self.kind == BackendKind::OpenaiCompatible;
        let from = self.request.continue_from.as_ref();
        let result = completion::parse(&bytes).and_then(|mut raw| {
            if let Some(from) = from {
                crate::decode::resume::continue_raw(&mut raw, from, repeats_prefill);
            }
            answer::decode(
                raw,
                self.assembler.options(),
                &mut RandomIds(&mut self.rng),
                &served,
            )
        });
        let prefix = from.map_or(0, |f| f.content.len());
        self.outcome = Some(result.map(|response| {
            if let Some(r) = &response.reasoning {
                self.queue.push(StreamEvent::Reasoning(r.clone()));
            }
            // Only what the caller has not had yet.
            if let Some(c) = response.content.as_deref().and_then(|c| c.get(prefix..))
                && !c.is_empty()
            {
                self.queue.push(StreamEvent::Content(c.to_string()));
            }
            for (i, c) in response.tool_calls.iter().enumerate() {
                self.queue.push(StreamEvent::ToolCall(ToolCallDelta {
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    id: Some(c.id.clone()),
                    name: Some(c.name.clone()),
                    arguments: c.arguments.clone(),
                }));
            }
            self.queue.push(StreamEvent::Done(response));
        }));
    }

    /// Ends the stream with a failure carrying what arrived so far (after trying to
    /// continue on another backend).
    fn fail(&mut self, error: Error) {
        if self.failover(Some(&error)) {
            return;
        }
        let origin = self.origin();
        let served = origin.served();
        let error = self
            .assembler
            .failure(error, &served, &mut RandomIds(&mut self.rng));
        self.outcome = Some(Err(error));
    }

    /// Mid-stream failover: when the backend failed in a way another may not (connection,
    /// timeout, 5xx or an error event, a cut stream), the policy allows it and attempts and
    /// time are left, continues the answer on another backend that serves the model. On
    /// success this stream carries on from there; false when it did not happen.
    fn failover(&mut self, error: Option<&Error>) -> bool {
        let settings = self.client.settings();
        let policy = settings.retry;
        let now = self.client.io().now_ns();
        let remaining = self.deadline.remaining_ms(now);
        let backend_failure = match error {
            Some(e) => retry::is_retryable(e, None) && retry::is_backend_failure(e),
            // Cut or failed by an error event: the assembler says which.
            None => self.assembler.failed_like_a_backend(),
        };
        let attempts = self.origin().attempts;
        if !policy.resume_streams
            || !backend_failure
            || self.framing != Framing::Events
            || settings.backends.len() < 2
            || attempts >= policy.max_attempts
            || remaining < PROBE_MS
        {
            return false;
        }
        self.client.mark_failed(self.backend_id);
        let mut request = self.request.clone();
        request.continue_from = Some(self.generated());
        request.request_id = Some(self.request_id.clone());
        request.timeout_ms = Some(u32::try_from(remaining).unwrap_or(u32::MAX));
        let Ok(next) = self.client.chat_stream(request) else {
            return false;
        };
        let queued = std::mem::take(&mut self.queue);
        self.body = None; // the failed backend is not asked to abort
        *self = next;
        // Events the old stream produced before failing come first.
        let mut events = queued;
        events.append(&mut self.queue);
        self.queue = events;
        true
    }
}

/// [`Served`], owned.
struct Origin {
    backend: String,
    model: String,
    earlier: Vec<String>,
    attempts: u32,
}

impl Origin {
    fn served(&self) -> Served<'_> {
        Served {
            backend: &self.backend,
            requested_model: &self.model,
            attempts: self.attempts,
            earlier: &self.earlier,
        }
    }
}

impl<I: Io> Drop for ChatStream<I> {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl<I: Io> Client<I> {
    /// `POST /abort_request {"rid"}` to an SGLang backend: cancels a generation the server
    /// would otherwise finish. Best effort, with a probe's short limits.
    pub(super) fn abort_request(&self, b: BackendId, rid: &str) {
        let backend = self.backend(b);
        let body = serde_json::json!({ "rid": rid }).to_string();
        let authorization = backend.authorization();
        let req = Request {
            method: Method::Post,
            base: &backend.base,
            path: backend.base.server_path("/abort_request"),
            authorization: Some(&authorization),
            accept: "*/*",
            request_id: Some(rid),
            session: None,
            body: Some(body.as_bytes()),
        };
        let deadline = self.deadline_in(PROBE_MS);
        if let Ok(mut response) = self
            .io()
            .send(&req, self.timeouts().capped(PROBE_MS), deadline)
        {
            let _ = crate::io::read_prefix(&mut response, 4096, deadline);
        }
    }

    /// Puts a backend that failed mid-stream in cooldown, so the continuation goes elsewhere.
    fn mark_failed(&self, b: BackendId) {
        let now = self.io().now_ms();
        let cooldown = self.settings().cooldown;
        self.state().backends[b.0].failed(now, &cooldown, None);
    }
}
