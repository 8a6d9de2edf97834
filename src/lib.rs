//! aios-llm-core: the LLM core of the AIOS agent OS as a `wasm32-wasip2` component.
//!
//! The API is `wit/llm.wit` (package `aios:llm`). Everything that decides *what* to send
//! and *how to read* an answer lives in plain modules below, testable natively; the wasi:http
//! glue (`http`, `component`) is thin and only moves bytes.

pub mod bindings {
    //! Types and traits generated from `wit/llm.wit`.
    wit_bindgen::generate!({
        path: "wit",
        world: "llm-core-plugin",
        with: { "wasi:io/poll@0.2.12": wasip2::io::poll },
        additional_derives: [PartialEq],
        pub_export_macro: true,
    });
}

/// The WIT data types, under a short path.
pub mod types {
    pub use crate::bindings::exports::aios::llm::types::*;
}

pub mod config;
pub mod errors;
pub mod gbnf;
pub mod json_output;
pub mod metrics;
pub mod reasoning;
pub mod request;
pub mod response;
pub mod retry;
pub mod routing;
pub mod sse;
pub mod stream;
pub mod text_tools;
pub mod tool_calls;
pub mod url;

// The wasi:http glue and the exported resources; compiled natively too (so clippy and the
// type checker see them) but only exported from the wasm build.
mod client;
mod component;
mod http;

#[cfg(target_arch = "wasm32")]
use component::Component;
#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);
