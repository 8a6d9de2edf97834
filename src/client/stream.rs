//! A chat being streamed: the open body, the SSE parser, the assembler and the events ready
//! for the caller. Its states: *open* (reading; events may be queued), *ended* (the `done`
//! event is queued, or the failure is waiting to be delivered once), *finished* (everything
//! delivered: further reads give nothing). A server that ignored `stream: true` and sent one
//! JSON completion is replayed as events.

use super::calls::{Answer, Failure};
use super::{Client, RandomIds};
use crate::decode::answer::{self, DecodeOptions, Served};
use crate::decode::assembler::Assembler;
use crate::errors;
use crate::io::{Chunk, Deadline, Incoming, Io, Wait};
use crate::routing::Rng;
use crate::types::{Error, StreamEvent, ToolCallDelta};
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
    backend: String,
    model: String,
    attempts: u32,
    framing: Framing,
    body: I::Incoming,
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
        answer: Answer<'_, I::Incoming>,
        opts: DecodeOptions,
        seed: u64,
    ) -> Result<ChatStream<I>, Failure> {
        let framing = match answer.response.header("content-type") {
            Some(t) if t.starts_with("application/json") => Framing::Json,
            _ => Framing::Events,
        };
        let mut stream = ChatStream {
            client,
            backend: answer.backend.name.clone(),
            model: answer.model.to_string(),
            attempts: answer.attempts,
            framing,
            body: answer.response,
            parser: SseParser::new(),
            assembler: Assembler::new(opts),
            queue: Vec::new(),
            outcome: None,
            json_bytes: Vec::new(),
            deadline: answer.deadline,
            rng: Rng::new(seed),
        };
        stream.fill(Wait::Block);
        match stream.outcome.take() {
            Some(Err(e)) if stream.queue.is_empty() => Err(Failure::from(e)),
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
            || self.deadline.remaining_ms(self.client.io().now_ns()) == 0
    }

    /// The open body (the WASI glue subscribes to it).
    pub fn body(&self) -> &I::Incoming {
        &self.body
    }

    /// Reads until an event is queued or the stream ends (with `Wait::Poll`, until nothing
    /// more has arrived).
    fn fill(&mut self, wait: Wait) {
        let max = self.client.settings().max_response_bytes;
        while self.queue.is_empty() && self.outcome.is_none() {
            let chunk = match self.body.read_chunk(wait, self.deadline) {
                Ok(c) => c,
                Err(e) => return self.fail(e),
            };
            match chunk {
                // The blocking path enforces the deadline in `read_chunk`; a host polling
                // `next` meets it here.
                Chunk::Pending if self.deadline.remaining_ms(self.client.io().now_ns()) == 0 => {
                    return self.fail(errors::total_timeout());
                }
                Chunk::Pending => return,
                Chunk::Data(bytes) if self.body.bytes_read() > max => {
                    // The events complete before the cap still count: they reach the
                    // caller and the partial response.
                    let over = self.body.bytes_read() - max;
                    let within = bytes
                        .len()
                        .saturating_sub(usize::try_from(over).unwrap_or(usize::MAX));
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
        while self.body.bytes_read() <= max
            && let Ok(Chunk::Data(_)) = self.body.read_chunk(Wait::Poll, self.deadline)
        {}
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
        self.outcome = Some(result.map(|response| self.queue.push(StreamEvent::Done(response))));
    }

    /// The server answered a stream request with one JSON completion: replay it as events.
    fn end_json(&mut self) {
        let bytes = std::mem::take(&mut self.json_bytes);
        let served = Served {
            backend: &self.backend,
            requested_model: &self.model,
            attempts: self.attempts,
        };
        let result = completion::parse(&bytes).and_then(|raw| {
            answer::decode(
                raw,
                self.assembler.options(),
                &mut RandomIds(&mut self.rng),
                &served,
            )
        });
        self.outcome = Some(result.map(|response| {
            if let Some(r) = &response.reasoning {
                self.queue.push(StreamEvent::Reasoning(r.clone()));
            }
            if let Some(c) = &response.content {
                self.queue.push(StreamEvent::Content(c.clone()));
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

    /// Ends the stream with a failure carrying what arrived so far.
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
