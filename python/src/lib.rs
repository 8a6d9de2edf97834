//! `aios_llm_core._native`: the wasmtime host library (`llm_core_host`, which embeds the
//! component) as a Python extension. Everything crosses as JSON text in the shapes the CLI
//! already reads and prints (`cli/src`, compiled in below), and the pure-Python package
//! `aios_llm_core` turns it into typed objects; this crate only owns the runtime, the clients
//! and the streams, so the component stays the single implementation of the LLM core.

mod client;
mod convert;
mod runtime;
mod stream;

// Shared with the CLI, compiled from its files: one implementation of the config-file
// formats (our TOML, AIOS's config.yaml), of the checkpoint and request JSON, and of the
// JSON renderings of responses, events and errors. What the CLI uses and Python does not is
// dead code here.
#[allow(dead_code)]
#[rustfmt::skip]
#[path = "../../cli/src/checkpoint.rs"]
mod checkpoint;
#[allow(dead_code)]
#[rustfmt::skip]
#[path = "../../cli/src/config_file.rs"]
mod config_file;
#[allow(dead_code)]
#[rustfmt::skip]
#[path = "../../cli/src/json.rs"]
mod json;
#[allow(dead_code)]
#[rustfmt::skip]
#[path = "../../cli/src/request_json.rs"]
mod request_json;
#[allow(dead_code)]
#[rustfmt::skip]
#[path = "../../cli/src/secret.rs"]
mod secret;

/// The one helper `checkpoint.rs` takes from the CLI's request module.
mod request {
    use llm_core_host::types::{Error, ErrorCode};

    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::InvalidRequest, message)
    }
}

use pyo3::prelude::*;

pyo3::create_exception!(
    _native,
    NativeError,
    pyo3::exceptions::PyException,
    "A failed call: its single argument is the error record as JSON text."
);

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("NativeError", m.py().get_type::<NativeError>())?;
    m.add_class::<client::Client>()?;
    m.add_class::<stream::Stream>()?;
    m.add_class::<runtime::Task>()?;
    m.add_function(wrap_pyfunction!(convert::parse_config, m)?)?;
    m.add(
        "EMBEDDED_COMPONENT_BYTES",
        llm_core_host::EMBEDDED_COMPONENT.len(),
    )?;
    Ok(())
}
