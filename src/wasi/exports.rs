//! The exported `aios:llm/llm-core` resources: thin wrappers that hand each call to the
//! client running over [`Wasi`].

use super::Wasi;
use crate::bindings::exports::aios::llm::llm_core::{
    ChatStream as ChatStreamHandle, Client as ClientHandle, Guest, GuestChatStream, GuestClient,
};
use crate::client;
use crate::io::Wait;
use crate::types::{
    BackendHealth, ChatRequest, ChatResponse, ClientConfig, Error, ModelInfo, StreamEvent, ToolCall,
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

/// The `client` resource.
pub struct Client(client::Client<Wasi>);

impl GuestClient for Client {
    fn open(config: ClientConfig) -> Result<ClientHandle, Error> {
        Ok(ClientHandle::new(Client(client::Client::open(
            config, Wasi,
        )?)))
    }

    fn chat(&self, request: ChatRequest) -> Result<ChatResponse, Error> {
        self.0.chat(request)
    }

    fn chat_with_json_output(&self, request: ChatRequest) -> Result<String, Error> {
        self.0.chat_with_json_output(request)
    }

    fn chat_with_tool_call_output(&self, request: ChatRequest) -> Result<Vec<ToolCall>, Error> {
        self.0.chat_with_tool_call_output(request)
    }

    fn chat_stream(&self, request: ChatRequest) -> Result<ChatStreamHandle, Error> {
        let stream = self.0.chat_stream(request)?;
        Ok(ChatStreamHandle::new(ChatStream(RefCell::new(stream))))
    }

    fn list_models(&self) -> Result<Vec<ModelInfo>, Error> {
        self.0.list_models()
    }

    fn health(&self) -> Vec<BackendHealth> {
        self.0.health()
    }
}

/// The `chat-stream` resource; dropping it drops the body and so cancels the request.
pub struct ChatStream(RefCell<client::ChatStream<Wasi>>);

impl GuestChatStream for ChatStream {
    fn subscribe(&self) -> Pollable {
        let stream = self.0.borrow();
        if stream.ready_now() {
            monotonic_clock::subscribe_duration(0)
        } else {
            stream.body().subscribe()
        }
    }

    fn next(&self) -> Result<Vec<StreamEvent>, Error> {
        self.0.borrow_mut().next(Wait::Poll)
    }

    fn blocking_next(&self) -> Result<Vec<StreamEvent>, Error> {
        self.0.borrow_mut().next(Wait::Block)
    }
}
