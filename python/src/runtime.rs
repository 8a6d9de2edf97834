//! The extension's own tokio runtime and compiled component, made once per process, and the
//! two ways Python waits for a host future: blocking (the GIL released, Ctrl-C honoured) or
//! a callback from a runtime thread (the asyncio bridge: the Python side hands the result to
//! its event loop with `call_soon_threadsafe`, so the loop never blocks).

use crate::NativeError;
use llm_core_host::types::Error;
use llm_core_host::{HostOptions, LlmCore};
use pyo3::prelude::*;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

/// The runtime every call and stream of the process runs on.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("aios-llm-core")
            .build()
            .expect("a tokio runtime")
    })
}

/// The embedded component, compiled (or loaded from the compiled cache) on first use.
pub fn core() -> Result<LlmCore, Error> {
    static CORE: OnceLock<LlmCore> = OnceLock::new();
    if let Some(core) = CORE.get() {
        return Ok(core.clone());
    }
    let _guard = runtime().enter();
    let core = LlmCore::new(HostOptions::default())?;
    Ok(CORE.get_or_init(|| core).clone())
}

/// A host error as the Python-side exception (the record as JSON text).
pub fn py_error(e: &Error) -> PyErr {
    NativeError::new_err(crate::json::error(e)["error"].to_string())
}

/// Runs `fut` to its end with the GIL released. Every 100 ms the main thread checks for
/// signals, so Ctrl-C drops the future (cancelling the call) and raises KeyboardInterrupt.
pub fn block<T: Send>(
    py: Python<'_>,
    fut: impl Future<Output = PyResult<T>> + Send,
) -> PyResult<T> {
    py.allow_threads(|| {
        runtime().block_on(async {
            tokio::pin!(fut);
            loop {
                tokio::select! {
                    done = &mut fut => return done,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {
                        Python::with_gil(|py| py.check_signals())?;
                    }
                }
            }
        })
    })
}

/// A call running on the runtime for an awaiting coroutine; `cancel` drops it (a stream
/// being started is cancelled with it).
#[pyclass(module = "aios_llm_core._native")]
pub struct Task {
    handle: tokio::task::AbortHandle,
}

#[pymethods]
impl Task {
    /// Drops the call; its callback is not called.
    fn cancel(&self) {
        self.handle.abort();
    }
}

/// Spawns `fut` and calls `callback(ok, value)` from a runtime thread when it ends: `ok`
/// with the value `make` builds, else with the error record as JSON text.
pub fn spawn<T, F, M>(fut: F, make: M, callback: PyObject) -> Task
where
    T: Send + 'static,
    F: Future<Output = Result<T, Error>> + Send + 'static,
    M: FnOnce(Python<'_>, T) -> PyResult<PyObject> + Send + 'static,
{
    let handle = runtime().spawn(async move {
        let result = fut.await;
        Python::with_gil(|py| {
            let outcome = match result {
                Ok(value) => make(py, value).map(|v| (true, v)),
                Err(e) => Ok((
                    false,
                    crate::json::error(&e)["error"]
                        .to_string()
                        .into_pyobject(py)
                        .map(|s| s.into_any().unbind())?,
                )),
            };
            let call = match outcome {
                Ok((ok, value)) => callback.call1(py, (ok, value)),
                Err(e) => callback.call1(py, (false, e.into_pyobject(py)?.into_any().unbind())),
            };
            if let Err(e) = call {
                e.write_unraisable(py, None);
            }
            PyResult::Ok(())
        })
        .ok();
    });
    Task {
        handle: handle.abort_handle(),
    }
}
