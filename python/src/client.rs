//! The `Client` class: one `llm_core_host::Client` (a pool of component instances reaching
//! only its configured backends) with every WIT call, each both blocking and as a callback
//! for asyncio. Calls are named by their WIT names and take and give JSON text.

use crate::convert;
use crate::runtime::{self, Task, block, py_error};
use crate::stream::Stream;
use llm_core_host::types::Error;
use pyo3::prelude::*;
use serde_json::Value;

/// What a call gives back: JSON text, or a stream.
enum Reply {
    Json(String),
    Stream(Box<llm_core_host::ChatStream>),
}

impl Reply {
    fn into_py(self, py: Python<'_>) -> PyResult<PyObject> {
        Ok(match self {
            Reply::Json(text) => text.into_pyobject(py)?.into_any().unbind(),
            Reply::Stream(s) => Py::new(py, Stream::new(*s))?.into_any(),
        })
    }
}

fn text(v: Value) -> Reply {
    Reply::Json(v.to_string())
}

/// Runs the WIT call `op` with its argument (JSON text, or nothing).
async fn dispatch(client: llm_core_host::Client, op: String, arg: String) -> Result<Reply, Error> {
    use crate::json;
    Ok(match op.as_str() {
        "chat" => text(json::response(&client.chat(convert::request(&arg)?).await?)),
        "chat-with-json-output" => Reply::Json(
            Value::String(
                client
                    .chat_with_json_output(convert::request(&arg)?)
                    .await?,
            )
            .to_string(),
        ),
        "chat-with-tool-call-output" => {
            let calls = client
                .chat_with_tool_call_output(convert::request(&arg)?)
                .await?;
            text(calls.iter().map(json::tool_call).collect())
        }
        "chat-stream" => {
            Reply::Stream(Box::new(client.chat_stream(convert::request(&arg)?).await?))
        }
        "resume" => Reply::Stream(Box::new(client.resume(convert::checkpoint(&arg)?).await?)),
        "count-tokens" => text(convert::token_count(
            &client.count_tokens(convert::request(&arg)?).await?,
        )),
        "embed" => text(convert::embeddings(
            &client.embed(convert::embed_request(&arg)?).await?,
        )),
        "list-models" => text(
            client
                .list_models()
                .await?
                .iter()
                .map(json::model)
                .collect(),
        ),
        "health" => text(client.health().await?.iter().map(json::health).collect()),
        other => {
            return Err(Error::new(
                llm_core_host::types::ErrorCode::InvalidRequest,
                format!("no call named `{other}`"),
            ));
        }
    })
}

/// A client of one or more backends.
#[pyclass(module = "aios_llm_core._native", frozen)]
pub struct Client {
    inner: llm_core_host::Client,
    summary: String,
}

#[pymethods]
impl Client {
    /// Opens a client from a configuration (`kind` and text as `parse_config` takes them)
    /// under host options (JSON text); an invalid configuration fails here.
    #[new]
    fn open(py: Python<'_>, kind: &str, config: &str, host: &str) -> PyResult<Client> {
        let (config, _) = convert::client_config(kind, config).map_err(|e| py_error(&e))?;
        let options = convert::host_options(host).map_err(|e| py_error(&e))?;
        let summary = convert::config_summary(&config).to_string();
        let inner = block(
            py,
            async move {
                let core = runtime::core()?.with_options(options)?;
                core.client(config).await
            }
            .into_py_result(),
        )?;
        Ok(Client { inner, summary })
    }

    /// The call `op` (a WIT name), blocking: JSON text, or a `Stream`.
    #[pyo3(signature = (op, arg = String::new()))]
    fn call(&self, py: Python<'_>, op: String, arg: String) -> PyResult<PyObject> {
        let client = self.inner.clone();
        let reply = block(py, dispatch(client, op, arg).into_py_result())?;
        reply.into_py(py)
    }

    /// The call `op` on the runtime; `callback(ok, value)` gets its result from a runtime
    /// thread (`value`: JSON text or a `Stream`; the error record as JSON text).
    #[pyo3(signature = (op, arg, callback))]
    fn start(&self, op: String, arg: String, callback: PyObject) -> Task {
        let client = self.inner.clone();
        runtime::spawn(
            dispatch(client, op, arg),
            |py, r: Reply| r.into_py(py),
            callback,
        )
    }

    /// The origins this client's component may reach.
    fn allowed_origins(&self) -> Vec<String> {
        self.inner.allowed_origins().to_vec()
    }

    /// The configuration, keys left out (JSON text).
    fn summary(&self) -> String {
        self.summary.clone()
    }
}

/// A host result as a Python one.
pub trait IntoPyResult<T> {
    fn into_py_result(self) -> impl Future<Output = PyResult<T>> + Send;
}

impl<T, F> IntoPyResult<T> for F
where
    F: Future<Output = Result<T, Error>> + Send,
{
    async fn into_py_result(self) -> PyResult<T> {
        self.await.map_err(|e| py_error(&e))
    }
}
