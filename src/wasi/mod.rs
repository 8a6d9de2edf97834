//! The WASI glue, the only code that touches `wasip2`: the [`Io`] implementation the
//! component runs the client over (wasi:http transport, monotonic and wall clocks,
//! wasi:random), and the exported `aios:llm/llm-core` resources (`exports`).

pub mod exports;
mod http;

use crate::io::{Deadline, Io, PhaseTimeouts, Request};
use crate::types::Error;
use wasip2::clocks::{monotonic_clock, wall_clock};
use wasip2::io::poll::poll;

pub use http::{USER_AGENT, WasiIncoming};

/// The host's WASI, as the client's outside world.
#[derive(Clone, Copy, Debug, Default)]
pub struct Wasi;

impl Io for Wasi {
    type Incoming = WasiIncoming;

    fn send(
        &self,
        request: &Request<'_>,
        timeouts: PhaseTimeouts,
        deadline: Deadline,
    ) -> Result<WasiIncoming, Error> {
        http::send(request, timeouts, deadline)
    }

    fn send_all(
        &self,
        requests: &[(Request<'_>, PhaseTimeouts)],
        deadline: Deadline,
    ) -> Vec<Result<WasiIncoming, Error>> {
        http::send_all(requests, deadline)
    }

    fn now_ns(&self) -> u64 {
        monotonic_clock::now()
    }

    fn unix_s(&self) -> u64 {
        wall_clock::now().seconds
    }

    fn sleep_ms(&self, ms: u64, deadline: Deadline) {
        let wake = monotonic_clock::subscribe_duration(ms.saturating_mul(1_000_000));
        let end = monotonic_clock::subscribe_instant(deadline.at_ns);
        poll(&[&wake, &end]);
    }

    fn random_u64(&self) -> u64 {
        wasip2::random::random::get_random_u64()
    }
}
