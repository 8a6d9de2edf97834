//! The exported `aios:llm/llm-core` resources: thin wrappers that hand each call to the
//! client running over [`Wasi`].

use super::Wasi;
use crate::bindings::exports::aios::llm::llm_core::{
    ChatStream as ChatStreamHandle, Client as ClientHandle, Guest, GuestChatStream, GuestClient,
};
use crate::client;
use crate::io::Wait;
use crate::redact::{Redactor, StreamRedactor};
use crate::types::{
    BackendHealth, ChatRequest, ChatResponse, Checkpoint, ClientConfig, EmbedRequest, Embeddings,
    Error, ModelInfo, StreamEvent, TokenCount, ToolCall,
};
use std::cell::RefCell;
use wasip2::clocks::monotonic_clock;
use wasip2::io::poll::Pollable;

/// The component's implementation of the `llm-core` interface.
pub struct Component;

impl Guest for Component {
    type Client = Client;
    type ChatStream = ChatStream;
}

/// The `client` resource. Every result leaves through [`Redactor`]: no configured key
/// reaches the caller, whatever a server echoes.
pub struct Client(client::Client<Wasi>);

impl Client {
    fn stream_handle(&self, stream: client::ChatStream<Wasi>) -> ChatStreamHandle {
        ChatStreamHandle::new(ChatStream {
            redactor: self.0.redactor().clone(),
            inner: RefCell::new((stream, StreamRedactor::default())),
        })
    }

    fn clean<T>(
        &self,
        result: Result<T, Error>,
        redact: impl FnOnce(&Redactor, &mut T),
    ) -> Result<T, Error> {
        let r = self.0.redactor();
        match result {
            Ok(mut value) => {
                redact(r, &mut value);
                Ok(value)
            }
            Err(mut e) => {
                r.error(&mut e);
                Err(e)
            }
        }
    }
}

impl GuestClient for Client {
    fn open(config: ClientConfig) -> Result<ClientHandle, Error> {
        Ok(ClientHandle::new(Client(client::Client::open(
            config, Wasi,
        )?)))
    }

    fn chat(&self, request: ChatRequest) -> Result<ChatResponse, Error> {
        self.clean(self.0.chat(request), Redactor::response)
    }

    fn chat_with_json_output(&self, request: ChatRequest) -> Result<String, Error> {
        self.clean(self.0.chat_with_json_output(request), Redactor::text)
    }

    fn chat_with_tool_call_output(&self, request: ChatRequest) -> Result<Vec<ToolCall>, Error> {
        self.clean(self.0.chat_with_tool_call_output(request), |r, calls| {
            calls.iter_mut().for_each(|c| r.tool_call(c));
        })
    }

    fn chat_stream(&self, request: ChatRequest) -> Result<ChatStreamHandle, Error> {
        let stream = self.clean(self.0.chat_stream(request), |_, _| {})?;
        Ok(self.stream_handle(stream))
    }

    fn resume(&self, checkpoint: Checkpoint) -> Result<ChatStreamHandle, Error> {
        let stream = self.clean(self.0.resume(checkpoint), |_, _| {})?;
        Ok(self.stream_handle(stream))
    }

    fn count_tokens(&self, request: ChatRequest) -> Result<TokenCount, Error> {
        self.clean(self.0.count_tokens(request), |_, _| {})
    }

    fn embed(&self, request: EmbedRequest) -> Result<Embeddings, Error> {
        self.clean(self.0.embed(request), |_, _| {})
    }

    fn list_models(&self) -> Result<Vec<ModelInfo>, Error> {
        self.clean(self.0.list_models(), |_, _| {})
    }

    fn health(&self) -> Vec<BackendHealth> {
        let mut health = self.0.health();
        health.iter_mut().for_each(|h| self.0.redactor().health(h));
        health
    }
}

/// The `chat-stream` resource; dropping it drops the body and so cancels the request.
pub struct ChatStream {
    redactor: Redactor,
    inner: RefCell<(client::ChatStream<Wasi>, StreamRedactor)>,
}

impl ChatStream {
    fn next_clean(&self, wait: Wait) -> Result<Vec<StreamEvent>, Error> {
        let (stream, held) = &mut *self.inner.borrow_mut();
        loop {
            match stream.next(wait) {
                Ok(events) => {
                    let ended = events.is_empty();
                    let shown = held.events(&self.redactor, events);
                    // `blocking-next` returns an empty list only at the end: when every
                    // event was held back (a possible key's start), read on.
                    if !shown.is_empty() || ended || wait == Wait::Poll {
                        return Ok(shown);
                    }
                }
                Err(mut e) => {
                    // What was held back is in the partial response, redacted with it.
                    held.flush(&self.redactor, &mut Vec::new());
                    self.redactor.error(&mut e);
                    return Err(e);
                }
            }
        }
    }
}

impl GuestChatStream for ChatStream {
    fn subscribe(&self) -> Pollable {
        let inner = self.inner.borrow();
        match inner.0.body() {
            Some(body) if !inner.0.ready_now() => body.subscribe(),
            _ => monotonic_clock::subscribe_duration(0),
        }
    }

    fn suspend(&self) -> Checkpoint {
        let (stream, held) = &mut *self.inner.borrow_mut();
        let mut checkpoint = stream.suspend();
        let generated = &mut checkpoint.generated;
        self.redactor.text(&mut generated.content);
        self.redactor.text(&mut generated.reasoning);
        // Text the key filter held back never reached the caller: generated again on resume.
        let (content, reasoning) = held.held();
        if let Some(kept) = generated.content.strip_suffix(content) {
            generated.content.truncate(kept.len());
        }
        if let Some(kept) = generated.reasoning.strip_suffix(reasoning) {
            generated.reasoning.truncate(kept.len());
        }
        checkpoint
    }

    fn next(&self) -> Result<Vec<StreamEvent>, Error> {
        self.next_clean(Wait::Poll)
    }

    fn blocking_next(&self) -> Result<Vec<StreamEvent>, Error> {
        self.next_clean(Wait::Block)
    }
}
