//! The integration tests: the built component in the wasmtime host, and the `llm-core` CLI
//! as a subprocess, against loopback replay servers and a live llama.cpp server.
//!
//! One test binary with a module per area, so wasmtime is linked once and the component is
//! compiled once per run. Select an area by its module path, e.g. `cargo test --release
//! -p aios-llm-core-tests --test all streaming::`; `-- --skip live::` leaves out the tests
//! that need the live server (scripts/local-server).

mod breadth;
mod cache;
mod chaos;
mod chat;
mod cli;
mod control;
mod faults;
mod fleet;
mod hostile;
mod limits;
mod live;
mod readme;
mod reliability;
mod routing;
mod soak;
mod streaming;
mod support;
mod tls;
mod tools;
