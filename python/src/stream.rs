//! The `Stream` class: a streamed chat, pulled in batches of the events that have arrived
//! (blocking, or through a callback for `async for`), suspended to a checkpoint, or closed
//! (which cancels the request, as dropping it does).

use crate::runtime::{self, Task, block, py_error};
use futures::StreamExt;
use llm_core_host::ChatStream;
use llm_core_host::types::{Error, ErrorCode, StreamEvent};
use pyo3::prelude::*;
use std::sync::Arc;
use tokio::sync::Mutex;

/// The stream, and a failure that came after events still to be handed over.
#[derive(Default)]
struct Inner {
    stream: Option<ChatStream>,
    failed: Option<Error>,
}

type Shared = Arc<Mutex<Inner>>;

#[pyclass(module = "aios_llm_core._native", frozen)]
pub struct Stream {
    inner: Shared,
}

impl Stream {
    pub fn new(s: ChatStream) -> Stream {
        Stream {
            inner: Arc::new(Mutex::new(Inner {
                stream: Some(s),
                failed: None,
            })),
        }
    }
}

/// The next events as a JSON array (text): waits for one, then takes every event already
/// there, so a fast stream crosses into Python in few calls. `None` at the
/// end. A failure after some events is reported by the following pull, so no event is lost.
/// The stream is let go (its instance back in the pool) once it has ended or failed.
async fn next(inner: Shared) -> Result<Option<String>, Error> {
    let mut guard = inner.lock().await;
    if let Some(e) = guard.failed.take() {
        return Err(e);
    }
    let mut events = Vec::new();
    let mut end = None;
    {
        let Some(stream) = guard.stream.as_mut() else {
            return Ok(None);
        };
        // Cancelled while waiting here (an aborted `anext`), the stream stays as it was.
        match stream.next().await {
            Some(Ok(event)) => {
                let done = matches!(event, StreamEvent::Done(_));
                events.push(crate::json::event(&event));
                if !done {
                    // What else has arrived, without waiting (the WIT `next`).
                    match stream.next_ready().await {
                        Ok(more) => events.extend(more.iter().map(crate::json::event)),
                        Err(e) => end = Some(Err(e)),
                    }
                }
            }
            Some(Err(e)) => end = Some(Err(e)),
            None => end = Some(Ok(())),
        }
    }
    if let Some(end) = end {
        guard.stream = None;
        match end {
            Err(e) if events.is_empty() => return Err(e),
            Err(e) => guard.failed = Some(e),
            Ok(()) if events.is_empty() => return Ok(None),
            Ok(()) => {}
        }
    }
    Ok(Some(serde_json::Value::Array(events).to_string()))
}

async fn suspend(inner: Shared) -> Result<String, Error> {
    let stream = inner.lock().await.stream.take().ok_or_else(|| {
        Error::new(
            ErrorCode::InvalidRequest,
            "the stream has ended or was closed",
        )
    })?;
    Ok(crate::checkpoint::to_json(&stream.suspend().await?))
}

/// Garbage-collected before its end, a stream cancels its request in the runtime's context,
/// so the cancellation is complete (the instance back in the pool, SGLang's abort sent).
impl Drop for Stream {
    fn drop(&mut self) {
        let _context = runtime::runtime().enter();
        if let Ok(mut guard) = self.inner.try_lock() {
            guard.stream.take();
        }
    }
}

#[pymethods]
impl Stream {
    /// The next events (a JSON array), waiting for one; `None` once the stream has ended.
    fn next(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let inner = self.inner.clone();
        block(
            py,
            async move { next(inner).await.map_err(|e| py_error(&e)) },
        )
    }

    /// `next` on the runtime; `callback(ok, value)` gets the events, `None` or the error.
    fn start_next(&self, callback: PyObject) -> Task {
        let inner = self.inner.clone();
        runtime::spawn(
            next(inner),
            |py, e: Option<String>| Ok(e.into_pyobject(py)?.into_any().unbind()),
            callback,
        )
    }

    /// Stops the generation; the checkpoint (JSON text) resumes it with `Client.resume`.
    fn suspend(&self, py: Python<'_>) -> PyResult<String> {
        let inner = self.inner.clone();
        block(
            py,
            async move { suspend(inner).await.map_err(|e| py_error(&e)) },
        )
    }

    /// `suspend` on the runtime, for `await`.
    fn start_suspend(&self, callback: PyObject) -> Task {
        let inner = self.inner.clone();
        runtime::spawn(
            suspend(inner),
            |py, c: String| Ok(c.into_pyobject(py)?.into_any().unbind()),
            callback,
        )
    }

    /// Cancels the request (closes its connection; SGLang is sent `abort_request`). Waits
    /// for a pull in progress on another thread to finish first.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let inner = self.inner.clone();
        block(py, async move {
            let mut guard = inner.lock().await;
            guard.stream.take();
            guard.failed.take();
            Ok(())
        })
    }

    /// Whether the stream has ended, failed, been suspended or closed.
    fn closed(&self) -> bool {
        self.inner
            .try_lock()
            .map(|g| g.stream.is_none() && g.failed.is_none())
            .unwrap_or(false)
    }
}
