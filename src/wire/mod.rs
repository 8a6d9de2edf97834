//! The servers' wire formats: the request body we send (`request`), the completion and stream
//! chunk JSON we read (`completion`), server-sent events (`sse`), error bodies
//! (`server_errors`), model lists (`models`), Prometheus load metrics (`metrics`), token
//! counts and embeddings (`tokens`, `embeddings`). Each reads every server family's variant
//! of its format; none decides what an answer means.

pub mod base64;
pub mod bounded;
pub mod completion;
pub mod embeddings;
pub mod guided;
pub mod metrics;
pub mod models;
pub mod request;
pub mod server_errors;
pub mod sse;
pub mod tokens;
