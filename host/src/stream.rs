//! A streamed chat as a `futures::Stream`. The stream owns its instance until the end, so
//! concurrent streams use different instances; it pulls from the component only when polled
//! (backpressure: a slow consumer leaves bytes in the socket, not in host memory). Dropping
//! it early drops the instance, which cancels the HTTP request.

use crate::errors;
use crate::pool::Lease;
use crate::received::Received;
use crate::types::{ChatResponse, Error, StreamEvent};
use futures::Stream;
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use wasmtime::component::ResourceAny;

type Next = Pin<Box<dyn Future<Output = (State, Option<Result<StreamEvent, Error>>)> + Send>>;

struct State {
    lease: Option<Lease>,
    handle: ResourceAny,
    ready: VecDeque<StreamEvent>,
    /// Everything pulled from the component so far, for the partial response of an error
    /// the host raises (a trap, a limit).
    received: Received,
    /// The model asked for, for that partial response.
    model: String,
}

/// Yields `Content`, `Reasoning` and `ToolCall` deltas, then `Done` with the assembled
/// response; or an `Err` carrying the partial response.
pub struct ChatStream {
    state: Option<State>,
    pending: Option<Next>,
}

impl ChatStream {
    pub(crate) fn new(lease: Lease, handle: ResourceAny, model: String) -> ChatStream {
        ChatStream {
            state: Some(State {
                lease: Some(lease),
                handle,
                ready: VecDeque::new(),
                received: Received::default(),
                model,
            }),
            pending: None,
        }
    }

    /// Waits until [`ChatStream::next_ready`] has something to give, on the component's
    /// `subscribe` pollable (the path for event-loop hosts; no thread is blocked).
    pub async fn ready(&mut self) -> Result<(), Error> {
        use wasmtime_wasi::p2::bindings::io::poll::HostPollable;
        let state = self.idle_state()?;
        let Some(lease) = state.lease.as_mut() else {
            return Ok(());
        };
        let instance = lease.get();
        instance.reset_cpu();
        let handle = state.handle;
        let subscribed = instance
            .plugin
            .aios_llm_llm_core()
            .chat_stream()
            .call_subscribe(&mut instance.store, handle)
            .await;
        let pollable = match subscribed {
            Ok(p) => p,
            Err(trap) => {
                let mut e = lease.trap_error("chat-stream.subscribe", trap);
                state.received.annotate(&mut e, &state.model);
                state.lease = None; // a trapped instance is not reused
                return Err(e);
            }
        };
        let table = instance.store.data_mut().table();
        let waited = HostPollable::block(
            table,
            wasmtime::component::Resource::new_borrow(pollable.rep()),
        )
        .await;
        HostPollable::drop(table, pollable)
            .map_err(|e| errors::internal("dropping a pollable", e))?;
        waited.map_err(|e| errors::internal("waiting on chat-stream", e))
    }

    /// The events that have arrived, without waiting (the WIT `next`); empty while nothing
    /// new is there, and after the end.
    pub async fn next_ready(&mut self) -> Result<Vec<StreamEvent>, Error> {
        let state = self.idle_state()?;
        let mut events: Vec<StreamEvent> = state.ready.drain(..).collect();
        events.extend(pull(state, false).await?);
        Ok(events)
    }

    fn idle_state(&mut self) -> Result<&mut State, Error> {
        if self.pending.is_some() {
            return Err(Error::new(
                crate::types::ErrorCode::InvalidRequest,
                "the stream is being polled as a futures::Stream",
            ));
        }
        self.state.as_mut().ok_or_else(|| {
            Error::new(
                crate::types::ErrorCode::InvalidRequest,
                "the stream has ended",
            )
        })
    }

    /// Drains the stream and returns the final response (the `Done` event's record).
    pub async fn collect_response(mut self) -> Result<ChatResponse, Error> {
        use futures::StreamExt;
        while let Some(event) = self.next().await {
            if let StreamEvent::Done(response) = event? {
                return Ok(response);
            }
        }
        Err(Error::new(
            crate::types::ErrorCode::Truncated,
            "the stream ended without a final response",
        ))
    }
}

async fn advance(mut state: State) -> (State, Option<Result<StreamEvent, Error>>) {
    if let Some(event) = state.ready.pop_front() {
        return (state, Some(Ok(event)));
    }
    match pull(&mut state, true).await {
        Ok(events) => {
            state.ready.extend(events);
            let first = state.ready.pop_front().map(Ok);
            (state, first)
        }
        Err(e) => (state, Some(Err(e))),
    }
}

/// Asks the component for events (`blocking-next` when `wait`, else `next`). Once the stream
/// has ended — `done`, an error, or the empty list — the instance goes back to the pool; after
/// a trap it is dropped. An ended stream yields nothing more.
async fn pull(state: &mut State, wait: bool) -> Result<Vec<StreamEvent>, Error> {
    let Some(lease) = state.lease.as_mut() else {
        return Ok(Vec::new());
    };
    let instance = lease.get();
    instance.reset_cpu();
    let stream = instance.plugin.aios_llm_llm_core().chat_stream();
    let result = if wait {
        stream
            .call_blocking_next(&mut instance.store, state.handle)
            .await
    } else {
        stream.call_next(&mut instance.store, state.handle).await
    };
    match result {
        Ok(Ok(events)) => {
            for event in &events {
                state.received.push(event);
            }
            if (wait && events.is_empty())
                || events.iter().any(|e| matches!(e, StreamEvent::Done(_)))
            {
                finish(state).await;
            }
            Ok(events)
        }
        Ok(Err(e)) => {
            finish(state).await;
            Err(e)
        }
        Err(trap) => {
            let mut e = lease.trap_error("chat-stream", trap);
            state.received.annotate(&mut e, &state.model);
            state.lease = None; // a trapped instance is not reused
            Err(e)
        }
    }
}

/// Drops the guest resource and returns the instance to the pool.
async fn finish(state: &mut State) {
    if let Some(mut lease) = state.lease.take() {
        let instance = lease.get();
        instance.reset_cpu();
        if state
            .handle
            .resource_drop_async(&mut instance.store)
            .await
            .is_ok()
        {
            lease.release();
        }
    }
}

impl Stream for ChatStream {
    type Item = Result<StreamEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.pending.is_none() {
            let Some(state) = self.state.take() else {
                return Poll::Ready(None);
            };
            self.pending = Some(Box::pin(advance(state)));
        }
        let pending = self.pending.as_mut().expect("set above");
        match pending.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready((state, item)) => {
                self.pending = None;
                if item.is_some() {
                    self.state = Some(state);
                }
                Poll::Ready(item)
            }
        }
    }
}
