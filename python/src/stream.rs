//! The `Stream` class: a streamed chat, pulled one event at a time (blocking, or through a
//! callback for `async for`), suspended to a checkpoint, or closed (which cancels the
//! request, as dropping it does).

use crate::runtime::{self, Task, block, py_error};
use futures::StreamExt;
use llm_core_host::ChatStream;
use llm_core_host::types::{Error, ErrorCode};
use pyo3::prelude::*;
use std::sync::Arc;
use tokio::sync::Mutex;

type Shared = Arc<Mutex<Option<ChatStream>>>;

#[pyclass(module = "aios_llm_core._native", frozen)]
pub struct Stream {
    inner: Shared,
}

impl Stream {
    pub fn new(s: ChatStream) -> Stream {
        Stream {
            inner: Arc::new(Mutex::new(Some(s))),
        }
    }
}

/// The next event as JSON text; `None` at the end. The stream is let go (its instance back
/// in the pool) once it has ended or failed.
async fn next(inner: Shared) -> Result<Option<String>, Error> {
    let mut guard = inner.lock().await;
    let Some(stream) = guard.as_mut() else {
        return Ok(None);
    };
    match stream.next().await {
        Some(Ok(event)) => Ok(Some(crate::json::event(&event).to_string())),
        Some(Err(e)) => {
            *guard = None;
            Err(e)
        }
        None => {
            *guard = None;
            Ok(None)
        }
    }
}

async fn suspend(inner: Shared) -> Result<String, Error> {
    let stream = inner.lock().await.take().ok_or_else(|| {
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
            guard.take();
        }
    }
}

#[pymethods]
impl Stream {
    /// The next event (JSON text), waiting for it; `None` once the stream has ended.
    fn next(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let inner = self.inner.clone();
        block(
            py,
            async move { next(inner).await.map_err(|e| py_error(&e)) },
        )
    }

    /// `next` on the runtime; `callback(ok, value)` gets the event, `None` or the error.
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
            inner.lock().await.take();
            Ok(())
        })
    }

    /// Whether the stream has ended, failed, been suspended or closed.
    fn closed(&self) -> bool {
        self.inner.try_lock().map(|g| g.is_none()).unwrap_or(false)
    }
}
