//! The seam between the client's decisions and the outside world. Everything the client does
//! that is not pure computation — sending a request, reading its body, telling the time,
//! sleeping, drawing a random seed — goes through [`Io`]. The component implements it over
//! WASI (`crate::wasi`, the only user of `wasip2`); unit tests implement it with a scripted
//! transport and a fake clock (`client::fake`), so retries, routing and stream states are
//! tested natively, without wasmtime.

use crate::errors;
use crate::types::Error;
use crate::url::BaseUrl;

/// Nanoseconds per millisecond.
const NS_PER_MS: u64 = 1_000_000;

/// A point on the monotonic clock after which a call gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    /// Monotonic nanoseconds.
    pub at_ns: u64,
}

impl Deadline {
    /// `ms` after `now_ns`.
    pub fn after_ms(now_ns: u64, ms: u64) -> Deadline {
        Deadline {
            at_ns: now_ns.saturating_add(ms.saturating_mul(NS_PER_MS)),
        }
    }

    /// Whole milliseconds left at `now_ns` (0 once passed).
    pub fn remaining_ms(self, now_ns: u64) -> u64 {
        self.at_ns.saturating_sub(now_ns) / NS_PER_MS
    }

    /// This deadline, or `ms` after `now_ns` if that comes sooner.
    pub fn within_ms(self, now_ns: u64, ms: u64) -> Deadline {
        Deadline {
            at_ns: self.at_ns.min(Deadline::after_ms(now_ns, ms).at_ns),
        }
    }
}

/// Per-phase limits a transport enforces on one exchange, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhaseTimeouts {
    /// Establishing the connection (TCP and TLS).
    pub connect_ms: u64,
    /// From the request sent to the first byte of the answer.
    pub first_byte_ms: u64,
    /// Longest silence between two pieces of the body.
    pub between_bytes_ms: u64,
}

impl PhaseTimeouts {
    /// Each phase capped at `ms`.
    pub fn capped(self, ms: u64) -> PhaseTimeouts {
        PhaseTimeouts {
            connect_ms: self.connect_ms.min(ms),
            first_byte_ms: self.first_byte_ms.min(ms),
            between_bytes_ms: self.between_bytes_ms.min(ms),
        }
    }
}

/// HTTP method of an outgoing request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Probes and listings.
    Get,
    /// Calls with a JSON body.
    Post,
}

/// One outgoing request.
#[derive(Debug)]
pub struct Request<'a> {
    /// GET or POST.
    pub method: Method,
    /// The backend's base URL (scheme and authority of the request).
    pub base: &'a BaseUrl,
    /// Path (and query) on that authority.
    pub path: String,
    /// `Authorization` header value, when one is sent.
    pub authorization: Option<&'a str>,
    /// `Accept` header value.
    pub accept: &'a str,
    /// `X-Request-Id` header value (chat calls).
    pub request_id: Option<&'a str>,
    /// The session header (name, value), when the call has a session id.
    pub session: Option<(&'a str, &'a str)>,
    /// JSON body (sent with `content-type: application/json`), for POST.
    pub body: Option<&'a [u8]>,
}

/// Whether a body read may wait for bytes to arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Wait (up to the deadline) until at least one byte or the end arrived.
    Block,
    /// Return at once, with `Chunk::Pending` when nothing is there.
    Poll,
}

/// What one body read gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk {
    /// The next bytes.
    Data(Vec<u8>),
    /// Nothing yet (only from a `Wait::Poll` read).
    Pending,
    /// The body is complete.
    End,
}

/// A response whose head has arrived and whose body is read on demand.
pub trait Incoming {
    /// HTTP status.
    fn status(&self) -> u16;
    /// One header's value (read on demand: most answers need none).
    fn header(&self, name: &str) -> Option<String>;
    /// The next piece of the body; transport failures come back as typed errors.
    fn read_chunk(&mut self, wait: Wait, deadline: Deadline) -> Result<Chunk, Error>;
    /// Body bytes read so far.
    fn bytes_read(&self) -> u64;
}

/// The outside world, as the client sees it.
pub trait Io {
    /// The response type of [`Io::send`].
    type Incoming: Incoming;

    /// Sends a request and waits (up to the deadline) for the response head.
    fn send(
        &self,
        request: &Request<'_>,
        timeouts: PhaseTimeouts,
        deadline: Deadline,
    ) -> Result<Self::Incoming, Error>;

    /// Sends several requests at once and waits for each response head; the results in the
    /// same order. By default one after another; a transport that can have several in
    /// flight waits only as long as the slowest.
    fn send_all(
        &self,
        requests: &[(Request<'_>, PhaseTimeouts)],
        deadline: Deadline,
    ) -> Vec<Result<Self::Incoming, Error>> {
        requests
            .iter()
            .map(|(r, t)| self.send(r, *t, deadline))
            .collect()
    }

    /// Monotonic clock, nanoseconds.
    fn now_ns(&self) -> u64;

    /// Wall clock, seconds since the Unix epoch (for HTTP dates in `retry-after`).
    fn unix_s(&self) -> u64;

    /// Sleeps `ms`, never past the deadline.
    fn sleep_ms(&self, ms: u64, deadline: Deadline);

    /// A random seed.
    fn random_u64(&self) -> u64;

    /// Monotonic clock, milliseconds.
    fn now_ms(&self) -> u64 {
        self.now_ns() / NS_PER_MS
    }

    /// A deadline `ms` from now.
    fn deadline_in(&self, ms: u64) -> Deadline {
        Deadline::after_ms(self.now_ns(), ms)
    }
}

/// Reads a whole body, refusing more than `max` bytes. With a `content-length`, the body is
/// complete once that many bytes arrived (no wait for the end-of-stream signal).
pub fn read_all(body: &mut impl Incoming, max: u64, deadline: Deadline) -> Result<Vec<u8>, Error> {
    let length = body
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if length.is_some_and(|n| n > max) {
        return Err(errors::too_large(max));
    }
    // Sized once from the declared length (within the cap), so a big answer is not grown
    // by doubling (which briefly holds it one and a half times).
    let mut out = Vec::with_capacity(length.map_or(0, |n| usize::try_from(n).unwrap_or(0)));
    loop {
        if length.is_some_and(|n| body.bytes_read() >= n) {
            return Ok(out);
        }
        match body.read_chunk(Wait::Block, deadline)? {
            Chunk::Data(bytes) => {
                if body.bytes_read() > max {
                    return Err(errors::too_large(max));
                }
                if out.capacity() == 0 {
                    out = bytes; // the common single-chunk answer: no copy
                } else {
                    out.extend_from_slice(&bytes);
                }
            }
            Chunk::Pending => {}
            Chunk::End => return Ok(out),
        }
    }
}

/// Reads up to `max` bytes of an error body: what fits is kept, the rest left unread (an
/// error page larger than the limit still reaches the caller, truncated). A failure while
/// reading ends the body: what arrived is what the caller gets.
pub fn read_prefix(body: &mut impl Incoming, max: u64, deadline: Deadline) -> Vec<u8> {
    let mut out = Vec::new();
    while (out.len() as u64) < max {
        match body.read_chunk(Wait::Block, deadline) {
            Ok(Chunk::Data(bytes)) => out.extend_from_slice(&bytes),
            Ok(Chunk::Pending) => {}
            Ok(Chunk::End) | Err(_) => break,
        }
    }
    out.truncate(usize::try_from(max).unwrap_or(usize::MAX));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_count_down_and_take_the_sooner_limit() {
        let d = Deadline::after_ms(5 * NS_PER_MS, 100);
        assert_eq!(d.remaining_ms(5 * NS_PER_MS), 100);
        assert_eq!(d.remaining_ms(104 * NS_PER_MS + 1), 0);
        assert_eq!(d.remaining_ms(500 * NS_PER_MS), 0);
        assert_eq!(
            d.within_ms(5 * NS_PER_MS, 10).remaining_ms(5 * NS_PER_MS),
            10
        );
        assert_eq!(d.within_ms(5 * NS_PER_MS, 1000), d);
        assert_eq!(Deadline::after_ms(u64::MAX, u64::MAX).at_ns, u64::MAX);
    }
}
