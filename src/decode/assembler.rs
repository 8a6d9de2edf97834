//! Assembling a streamed chat: each SSE `data` payload (a chunk) becomes stream events, and
//! the chunks together become the same `RawAnswer` a non-streaming call yields, decoded by
//! the same `answer::decode`. Nothing received is lost: on any failure the error carries
//! the partial response.

use crate::decode::answer::{self, DecodeOptions, Expected, Served};
use crate::decode::reasoning::{Piece, ThinkFilter};
use crate::decode::resume;
use crate::decode::tool_calls::{IdSource, RawToolCall};
use crate::decode::tool_text_hold::ToolTextHold;
use crate::errors;
use crate::routing::retry;
use crate::types::{ChatResponse, Error, ErrorCode, StreamEvent, ToolCallDelta};
use crate::types::{Generated, Usage};
use crate::wire::completion::{self, RawAnswer, WireCompletion, WireMessage};
use crate::wire::request;
use crate::wire::server_errors;
use std::borrow::Cow;

/// Stream state: the answer so far, and filters that keep tags out of content deltas.
pub struct Assembler {
    opts: DecodeOptions,
    raw: RawAnswer,
    think: Option<ThinkFilter>,
    tool_text: Option<ToolTextHold>,
    /// Reused between deltas: pieces the think filter released.
    pieces: Vec<Piece>,
    done: bool,
    failed: Option<Error>,
    /// The answer this stream continues (`continue-from`); `raw` holds the continuation.
    from: Option<Generated>,
    /// Chunks that carried generated text or a tool-call piece: the token count so far
    /// until the server reports usage (servers stream about one token per chunk).
    generating_chunks: u32,
}

impl Assembler {
    pub fn new(opts: DecodeOptions) -> Assembler {
        let think = opts.split_reasoning.then(ThinkFilter::default);
        let tool_text =
            (opts.recover_tool_calls && opts.names.offered()).then(ToolTextHold::default);
        Assembler {
            opts,
            raw: RawAnswer::default(),
            pieces: Vec::new(),
            think,
            tool_text,
            done: false,
            failed: None,
            from: None,
            generating_chunks: 0,
        }
    }

    /// An assembler for a stream that continues `from`: the filters start where that text
    /// left them, and the final record is the whole answer.
    pub fn continuing(opts: DecodeOptions, from: Generated) -> Assembler {
        let mut a = Assembler::new(opts);
        if let Some(f) = &mut a.think {
            f.skip(&request::prefill(&from));
        }
        if let Some(hold) = &mut a.tool_text {
            hold.seed(&from.content);
        }
        a.from = Some(from);
        a
    }

    /// The whole answer as the events delivered it so far (held-back text left out), in the
    /// form a continuation starts from: content, reasoning, usage.
    pub fn so_far(&self) -> RawAnswer {
        let held = self.think.as_ref().map_or(0, ThinkFilter::held_len)
            + self.tool_text.as_ref().map_or(0, |h| h.held.len());
        let mut content = self.raw.content.clone().unwrap_or_default();
        let mut keep = content.len().saturating_sub(held);
        while !content.is_char_boundary(keep) {
            keep -= 1;
        }
        content.truncate(keep);
        // Without a usage report yet, the tokens generated are counted as chunks (the prompt
        // is unknown): enough for a continuation to keep within the answer's max-tokens.
        let counted = Usage {
            prompt_tokens: 0,
            completion_tokens: self.generating_chunks,
            total_tokens: self.generating_chunks,
            reasoning_tokens: None,
            cached_tokens: None,
        };
        let mut raw = RawAnswer {
            content: Some(content),
            reasoning: self.raw.reasoning.clone(),
            usage: Some(self.raw.usage.unwrap_or(counted)),
            ..RawAnswer::default()
        };
        if let Some(from) = &self.from {
            resume::continue_raw(&mut raw, from, false);
        }
        raw
    }

    /// The answer so far, made whole with the text it continues.
    fn take_raw(&mut self) -> RawAnswer {
        let mut raw = std::mem::take(&mut self.raw);
        if let Some(from) = &self.from {
            resume::continue_raw(&mut raw, from, false);
        }
        raw
    }

    pub fn options(&self) -> &DecodeOptions {
        &self.opts
    }

    /// True when the server finished the answer (`[DONE]` or a finish reason) and sent no
    /// error event.
    pub fn ended_cleanly(&self) -> bool {
        self.failed.is_none() && (self.done || self.raw.finish_reason.is_some())
    }

    /// True when the stream failed the way a sick backend fails: cut before the end, or an
    /// error event of the retryable kind (not a malformed stream).
    pub fn failed_like_a_backend(&self) -> bool {
        match &self.failed {
            Some(e) => retry::is_retryable(e, None) && retry::is_backend_failure(e),
            None => !(self.done || self.raw.finish_reason.is_some()),
        }
    }

    /// True once `[DONE]` or an error event arrived: nothing more is expected.
    pub fn ended(&self) -> bool {
        self.done || self.failed.is_some()
    }

    /// Handles one SSE data payload, appending the events it yields.
    pub fn on_data(&mut self, data: &str, out: &mut Vec<StreamEvent>) {
        if self.ended() {
            return;
        }
        if data.trim() == "[DONE]" {
            self.done = true;
            return;
        }
        let chunk: WireCompletion = match serde_json::from_slice(data.as_bytes()) {
            Ok(c) => c,
            Err(e) => {
                self.failed = Some(Error {
                    body: Some(errors::kept_body(data.as_bytes())),
                    ..Error::malformed(format!(
                        "the stream sent an event that is not a chat chunk ({e})"
                    ))
                });
                return;
            }
        };
        if chunk.error.is_some() || chunk.object.as_deref() == Some("error") {
            let status = match &chunk.error {
                Some(e) => e.status(),
                None => completion::http_status(chunk.code.as_ref()),
            };
            self.failed = Some(stream_error(data, status));
            return;
        }
        // Every chunk repeats them; keep the first (no copy per chunk).
        if self.raw.id.is_none() {
            self.raw.id = chunk.id.map(Cow::into_owned);
        }
        if self.raw.model.is_none() {
            self.raw.model = chunk.model.map(Cow::into_owned);
        }
        if let Some(u) = chunk.usage {
            self.raw.usage = Some(u.into_usage());
        }
        // One answer per request (`n` is never sent); other indices are ignored.
        for choice in chunk
            .choices
            .unwrap_or_default()
            .items
            .into_iter()
            .filter(|c| c.index.unwrap_or(0) == 0)
        {
            if let Some(delta) = &choice.delta
                && (delta
                    .content
                    .as_ref()
                    .is_some_and(|c| c.0.as_deref().is_some_and(|t| !t.is_empty()))
                    || delta.reasoning.as_ref().is_some_and(|r| !r.is_empty())
                    || delta
                        .reasoning_content
                        .as_ref()
                        .is_some_and(|r| !r.is_empty())
                    || delta.tool_calls.is_some())
            {
                self.generating_chunks = self.generating_chunks.saturating_add(1);
            }
            if let Some(delta) = choice.delta
                && let Err(why) = self.on_delta(delta, out)
            {
                self.failed = Some(Error::malformed(why));
                return;
            }
            if let Some(logprobs) = choice.logprobs.map(|l| l.into_records())
                && !logprobs.is_empty()
            {
                self.raw.logprobs.extend(logprobs.iter().cloned());
                out.push(StreamEvent::Logprobs(logprobs));
            }
            if let Some(reason) = choice.finish_reason {
                self.raw.finish_reason = Some(reason);
            }
        }
    }

    /// Takes one delta; `Err` says why the stream is malformed (the events so far stand).
    fn on_delta(&mut self, delta: WireMessage, out: &mut Vec<StreamEvent>) -> Result<(), String> {
        // vLLM 0.10 sent the same text in both fields of one delta: count it once.
        let second = delta
            .reasoning_content
            .filter(|r| delta.reasoning.as_ref() != Some(r));
        for text in [delta.reasoning, second].into_iter().flatten() {
            if !text.is_empty() {
                self.raw
                    .reasoning
                    .get_or_insert_with(String::new)
                    .push_str(&text);
                out.push(StreamEvent::Reasoning(text));
            }
        }
        if let Some(text) = delta.content.and_then(|c| c.0)
            && !text.is_empty()
        {
            self.raw
                .content
                .get_or_insert_with(String::new)
                .push_str(&text);
            let text = text.into_owned();
            let mut pieces = std::mem::take(&mut self.pieces);
            match &mut self.think {
                Some(f) => f.push(text, &mut |p| pieces.push(p)),
                None => pieces.push(Piece::Content(text)),
            }
            self.emit(&mut pieces, out);
            self.pieces = pieces;
        }
        let calls = delta.tool_calls.unwrap_or_default();
        if calls.dropped > 0 {
            return Err(completion::too_many_calls(
                completion::MAX_TOOL_CALLS + calls.dropped,
            ));
        }
        for call in calls.items {
            let index = self.call_index(call.index, call.id.as_deref())?;
            let slot = &mut self.raw.tool_calls[index];
            let id = call.id.filter(|id| !id.is_empty());
            if slot.id.is_none() {
                slot.id.clone_from(&id);
            }
            let function = call.function;
            let name = function
                .as_ref()
                .and_then(|f| f.name.clone())
                .filter(|n| !n.is_empty());
            if slot.name.is_none() {
                slot.name.clone_from(&name);
            }
            // `arguments: null` mid-stream (vLLM#9693) is an empty fragment.
            let fragment = function
                .and_then(|f| f.arguments)
                .flatten()
                .unwrap_or_default();
            slot.arguments
                .get_or_insert_with(String::new)
                .push_str(&fragment);
            out.push(StreamEvent::ToolCall(ToolCallDelta {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                id,
                name: name.map(|n| self.opts.names.to_caller(&n)),
                arguments: fragment,
            }));
        }
        Ok(())
    }

    /// Position of a streamed call: by `index`; without one, a new id starts a new call.
    /// Indices come from the server: one at or past [`completion::MAX_TOOL_CALLS`] is an
    /// error, never a size to allocate.
    fn call_index(&mut self, index: Option<u64>, id: Option<&str>) -> Result<usize, String> {
        let calls = &mut self.raw.tool_calls;
        let i = match index {
            Some(i) => usize::try_from(i).unwrap_or(usize::MAX),
            None => match (id.filter(|s| !s.is_empty()), calls.last()) {
                (Some(id), Some(last)) if last.id.as_deref() != Some(id) => calls.len(),
                (_, Some(_)) => calls.len() - 1,
                (_, None) => 0,
            },
        };
        if i >= completion::MAX_TOOL_CALLS {
            return Err(match index {
                Some(n) => format!(
                    "the stream sent tool call index {n}; an answer may have at most {} calls",
                    completion::MAX_TOOL_CALLS
                ),
                None => completion::too_many_calls(format!("more than {i}")),
            });
        }
        if calls.len() <= i {
            calls.resize_with(i + 1, RawToolCall::default);
        }
        Ok(i)
    }

    fn emit(&mut self, pieces: &mut Vec<Piece>, out: &mut Vec<StreamEvent>) {
        for piece in pieces.drain(..) {
            match piece {
                Piece::Reasoning(r) => out.push(StreamEvent::Reasoning(r)),
                Piece::Content(c) => {
                    let released = match &mut self.tool_text {
                        Some(hold) => hold.push(&c),
                        None => c,
                    };
                    if !released.is_empty() {
                        out.push(StreamEvent::Content(released));
                    }
                }
            }
        }
    }

    /// The answer so far as a response record (no JSON check), for errors. Takes it: the
    /// stream has ended (holding a big answer twice could exhaust the instance's memory).
    fn take_partial(&mut self, served: &Served, ids: &mut dyn IdSource) -> ChatResponse {
        let opts = DecodeOptions {
            json: Expected::None,
            ..self.opts.clone()
        };
        let mut raw = self.take_raw();
        raw.malformed = None;
        match answer::decode(raw, &opts, ids, served) {
            Ok(r) => r,
            Err(e) => e.partial.unwrap_or_else(|| unreachable_partial(served)),
        }
    }

    /// Ends the stream (input exhausted or cut). Flushes held text into `out` and returns the
    /// final response, or the error with the partial response.
    pub fn finish(
        &mut self,
        served: &Served,
        ids: &mut dyn IdSource,
        out: &mut Vec<StreamEvent>,
    ) -> Result<ChatResponse, Error> {
        let mut pieces = self
            .think
            .as_mut()
            .map(|f| {
                let mut held = Vec::new();
                f.finish(&mut |p| held.push(p));
                held
            })
            .unwrap_or_default();
        self.emit(&mut pieces, out);
        if let Some(failed) = self.failed.take() {
            self.flush_held(out);
            return Err(self.failure(failed, served, ids));
        }
        if !self.done && self.raw.finish_reason.is_none() {
            self.flush_held(out);
            let e = Error::new(
                ErrorCode::Truncated,
                "the stream ended before the server finished (no [DONE] and no finish reason)",
            );
            return Err(self.failure(e, served, ids));
        }
        let had_native_calls = !self.raw.tool_calls.is_empty();
        let result = answer::decode(self.take_raw(), &self.opts, ids, served);
        let recovered = match &result {
            Ok(r) if !had_native_calls && !r.tool_calls.is_empty() => Some(r),
            _ => None,
        };
        match (recovered, &mut self.tool_text) {
            (Some(r), Some(hold)) => {
                // The held text became calls: deliver them whole, plus any real text that
                // was held with them.
                hold.held.clear();
                for (i, c) in r.tool_calls.iter().enumerate() {
                    out.push(StreamEvent::ToolCall(ToolCallDelta {
                        index: u32::try_from(i).unwrap_or(u32::MAX),
                        id: Some(c.id.clone()),
                        name: Some(c.name.clone()),
                        arguments: c.arguments.clone(),
                    }));
                }
                let extra = r
                    .content
                    .as_deref()
                    .and_then(|c| c.strip_prefix(hold.released.trim()));
                if let Some(extra) = extra.filter(|e| !e.trim().is_empty()) {
                    out.push(StreamEvent::Content(extra.to_string()));
                }
            }
            _ => self.flush_held(out),
        }
        result
    }

    /// Ends the stream with a failure carrying what arrived so far.
    pub fn failure(&mut self, error: Error, served: &Served, ids: &mut dyn IdSource) -> Error {
        let partial = self.take_partial(served, ids);
        Error {
            backend: Some(served.backend.to_string()),
            attempts: served.attempts,
            ..error
        }
        .with_partial(partial)
    }

    fn flush_held(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(hold) = &mut self.tool_text {
            let held = std::mem::take(&mut hold.held);
            if !held.is_empty() {
                out.push(StreamEvent::Content(held));
            }
        }
    }
}

fn unreachable_partial(served: &Served) -> ChatResponse {
    ChatResponse {
        id: None,
        content: None,
        reasoning: None,
        tool_calls: vec![],
        invalid_tool_calls: vec![],
        finish_reason: None,
        usage: None,
        model: served.requested_model.to_string(),
        backend: served.backend.to_string(),
        earlier_backends: served.earlier.to_vec(),
        logprobs: Vec::new(),
        attempts: served.attempts,
    }
}

/// An error event after the 200: `data: {"error": {...}}` (vLLM) or a flat SGLang error;
/// `status` is the HTTP status its `code` names, if any.
fn stream_error(data: &str, status: Option<u16>) -> Error {
    let mut e =
        server_errors::from_status(status.unwrap_or(500), data.as_bytes(), None, "the stream");
    e.message = format!("the server failed mid-stream: {}", e.message);
    e.status = status;
    e
}

#[cfg(test)]
mod tests;
