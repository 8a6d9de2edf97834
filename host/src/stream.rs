//! A streamed chat as a `futures::Stream`. The stream owns its instance until the end, so
//! concurrent streams use different instances; it pulls from the component only when polled
//! (backpressure: a slow consumer leaves bytes in the socket, not in host memory). Dropping
//! it early cancels the request (see its `Drop`).

use crate::pool::{Instance, Lease};
use crate::received::Received;
use crate::types::{ChatResponse, Checkpoint, Error, StreamEvent};
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
    /// When the host's `max_call_duration` for the stream runs out.
    deadline: tokio::time::Instant,
}

impl State {
    /// Ends the stream with an error the host raised: the instance is thrown away (a trap or
    /// a call cut short leaves it in an unknown state) and the error keeps what was
    /// delivered.
    fn abandon(&mut self, mut e: Error) -> Error {
        self.received.annotate(&mut e, &self.model);
        self.lease = None;
        e
    }
}

/// Yields `Content`, `Reasoning` and `ToolCall` deltas, then `Done` with the assembled
/// response; or an `Err` carrying the partial response.
pub struct ChatStream {
    state: Option<State>,
    pending: Option<Next>,
}

impl ChatStream {
    pub(crate) fn new(
        lease: Lease,
        handle: ResourceAny,
        model: String,
        deadline: tokio::time::Instant,
    ) -> ChatStream {
        ChatStream {
            state: Some(State {
                lease: Some(lease),
                handle,
                ready: VecDeque::new(),
                received: Received::default(),
                model,
                deadline,
            }),
            pending: None,
        }
    }

    /// Waits until [`ChatStream::next_ready`] has something to give, on the component's
    /// `subscribe` pollable (the path for event-loop hosts; no thread is blocked).
    pub async fn ready(&mut self) -> Result<(), Error> {
        let state = self.idle_state()?;
        let (deadline, handle) = (state.deadline, state.handle);
        let Some(lease) = state.lease.as_mut() else {
            return Ok(());
        };
        let instance = lease.get();
        instance.reset_cpu();
        let e = match tokio::time::timeout_at(deadline, wait_ready(instance, handle)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(trap)) => lease.trap_error("chat-stream.subscribe", trap),
            Err(_) => lease.call_too_long(),
        };
        Err(state.abandon(e))
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

    /// Stops the generation (the request is cancelled) and returns a checkpoint of what this
    /// stream has yielded: pass it to [`crate::Client::resume`], here or in another process
    /// (it is plain data). Events the component had delivered but this stream had not yet
    /// yielded are left out of it, so the resumed stream generates them again: nothing the
    /// caller saw is repeated, nothing is lost.
    pub async fn suspend(mut self) -> Result<Checkpoint, Error> {
        let mut state = match self.state.take() {
            Some(state) if self.pending.is_none() => state,
            _ => {
                return Err(Error::new(
                    crate::types::ErrorCode::InvalidRequest,
                    "the stream has ended or is being polled",
                ));
            }
        };
        let Some(lease) = state.lease.as_mut() else {
            return Err(Error::new(
                crate::types::ErrorCode::InvalidRequest,
                "the stream has ended: nothing to suspend",
            ));
        };
        let instance = lease.get();
        instance.reset_cpu();
        let result = instance
            .plugin
            .aios_llm_llm_core()
            .chat_stream()
            .call_suspend(&mut instance.store, state.handle)
            .await;
        let mut checkpoint = match result {
            Ok(c) => c,
            Err(trap) => {
                let e = lease.trap_error("suspend", trap);
                state.lease = None;
                return Err(e);
            }
        };
        finish(&mut state).await;
        // Undo what the caller has not taken yet (newest last).
        let generated = &mut checkpoint.generated;
        for event in state.ready.iter().rev() {
            let (text, delta) = match event {
                StreamEvent::Content(t) => (&mut generated.content, t),
                StreamEvent::Reasoning(t) => (&mut generated.reasoning, t),
                _ => continue,
            };
            if let Some(kept) = text.strip_suffix(delta.as_str()) {
                text.truncate(kept.len());
            }
        }
        Ok(checkpoint)
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
    let call = async {
        if wait {
            stream
                .call_blocking_next(&mut instance.store, state.handle)
                .await
        } else {
            stream.call_next(&mut instance.store, state.handle).await
        }
    };
    let result = match tokio::time::timeout_at(state.deadline, call).await {
        Ok(result) => result,
        Err(_) => {
            let e = lease.call_too_long();
            return Err(state.abandon(e));
        }
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
            let e = lease.trap_error("chat-stream", trap);
            Err(state.abandon(e))
        }
    }
}

/// Subscribes to the stream and waits on the pollable.
async fn wait_ready(instance: &mut Instance, handle: ResourceAny) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::io::poll::HostPollable;
    let pollable = instance
        .plugin
        .aios_llm_llm_core()
        .chat_stream()
        .call_subscribe(&mut instance.store, handle)
        .await?;
    let table = instance.store.data_mut().table();
    let waited = HostPollable::block(
        table,
        wasmtime::component::Resource::new_borrow(pollable.rep()),
    )
    .await;
    HostPollable::drop(table, pollable)?;
    waited
}

/// Drops the guest resource and returns the instance to the pool.
async fn finish(state: &mut State) {
    if let Some(mut lease) = state.lease.take() {
        let instance = lease.get();
        instance.reset_cpu();
        let dropped = state.handle.resource_drop_async(&mut instance.store);
        // A drop that fails or outlives the call's deadline leaves the instance unusable.
        if let Ok(Ok(())) = tokio::time::timeout_at(state.deadline, dropped).await {
            lease.release();
        }
    }
}

/// Dropped before its end, a stream cancels its request: the component's stream resource is
/// dropped in the background (it closes the connection and, for SGLang, posts
/// `/abort_request`), then the instance goes back to the pool. Outside a tokio runtime the
/// instance is discarded instead, which closes the connection too.
impl Drop for ChatStream {
    fn drop(&mut self) {
        let Some(mut state) = self.state.take() else {
            return;
        };
        if state.lease.is_none() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { finish(&mut state).await });
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
