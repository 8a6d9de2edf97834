//! The exported `aios:llm/llm-core` resources, delegating to `client`.

use crate::bindings::exports::aios::llm::llm_core::{
    ChatStream as ChatStreamHandle, Client as ClientHandle, Guest, GuestChatStream, GuestClient,
};
use crate::client::{Client, StreamState};
use crate::types::{
    BackendHealth, ChatRequest, ChatResponse, ClientConfig, Error, ModelInfo, StreamEvent, ToolCall,
};
use std::cell::RefCell;
use wasip2::io::poll::Pollable;

pub struct Component;

impl Guest for Component {
    type Client = Client;
    type ChatStream = ChatStream;
}

impl GuestClient for Client {
    fn open(config: ClientConfig) -> Result<ClientHandle, Error> {
        Ok(ClientHandle::new(Client::open(config)?))
    }

    fn chat(&self, request: ChatRequest) -> Result<ChatResponse, Error> {
        Client::chat(self, request)
    }

    fn chat_with_json_output(&self, request: ChatRequest) -> Result<String, Error> {
        Client::chat_with_json_output(self, request)
    }

    fn chat_with_tool_call_output(&self, request: ChatRequest) -> Result<Vec<ToolCall>, Error> {
        Client::chat_with_tool_call_output(self, request)
    }

    fn chat_stream(&self, request: ChatRequest) -> Result<ChatStreamHandle, Error> {
        let state = Client::chat_stream(self, request)?;
        Ok(ChatStreamHandle::new(ChatStream(RefCell::new(state))))
    }

    fn list_models(&self) -> Result<Vec<ModelInfo>, Error> {
        Client::list_models(self)
    }

    fn health(&self) -> Vec<BackendHealth> {
        Client::health(self)
    }
}

/// The `chat-stream` resource; dropping it drops the body and so cancels the request.
pub struct ChatStream(RefCell<StreamState>);

impl GuestChatStream for ChatStream {
    fn subscribe(&self) -> Pollable {
        self.0.borrow().subscribe()
    }

    fn next(&self) -> Result<Vec<StreamEvent>, Error> {
        self.0.borrow_mut().next(false)
    }

    fn blocking_next(&self) -> Result<Vec<StreamEvent>, Error> {
        self.0.borrow_mut().next(true)
    }
}
