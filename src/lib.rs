//! aios-llm-core: the LLM core of the AIOS agent OS as a `wasm32-wasip2` component.
//!
//! The API is `wit/llm.wit` (package `aios:llm`). The crate is laid out by what each part
//! decides (see ARCHITECTURE.md):
//!
//! - [`client`] — the orchestrator behind the `client` resource: call paths, retries,
//!   backend picking, discovery, probes, the stream state machine. Generic over [`io::Io`].
//! - [`io`] — the seam: transport, clocks and randomness as a trait, so every decision runs
//!   natively in unit tests with a fake transport and clock.
//! - [`wasi`] — the only user of `wasip2`: `Io` over wasi:http and the exported resources.
//! - [`wire`] — the servers' formats: request bodies, completions and chunks, SSE, error
//!   bodies, model lists, metrics.
//! - [`decode`] — what an answer means: tool calls, recovered text calls, reasoning, JSON
//!   checks, stream assembly.
//! - [`routing`] — which backend, when to retry, what is remembered per backend.
//! - [`constraints`] — output constraints translated per server (regex → GBNF).
//! - [`config`], [`url`], [`errors`] — validated settings, base URLs, error records.
//!
//! Everything but `wasi` is plain Rust, built natively for tests, benchmarks and fuzzing.

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

mod defaults {
    use crate::types;
    include!("defaults.rs");
}

pub mod client;
pub mod config;
pub mod constraints;
pub mod decode;
pub mod errors;
// Fuzz targets and their invariants (fuzz/, and stable tests); not public API.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod io;
pub mod redact;
pub mod routing;
pub mod url;
pub mod wire;

#[cfg(test)]
mod testing;

// The WASI glue is compiled natively too (so clippy and the type checker see it) but only
// exported from the wasm build.
pub mod wasi;

#[cfg(target_arch = "wasm32")]
use wasi::exports::Component;
#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);
