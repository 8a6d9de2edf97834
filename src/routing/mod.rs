//! Routing decisions, pure and clock-free: which backend an attempt goes to (`router`), what
//! the client remembers about each backend (`backends`), when to retry and how long to wait
//! (`retry`), and the small PRNG behind jitter and weighted picks (`rng`).

pub mod affinity;
pub mod backends;
pub mod retry;
pub mod rng;
pub mod router;

pub use backends::{BackendId, BackendState};
pub use rng::Rng;
pub use router::{Route, Router};
