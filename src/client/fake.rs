//! A scripted outside world for the client's unit tests: each request is answered from a
//! script kept per URL (one-shot answers in order, then a default), and recorded; the clock
//! moves only when the client sleeps or a scripted body takes time; randomness is fixed.
//! Only the I/O is fake — every decision under test is the client's real code.

use crate::errors;
use crate::io::{Chunk, Deadline, Incoming, Io, Method, PhaseTimeouts, Request, Wait};
use crate::types::{Error, ErrorCode};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

const NS_PER_MS: u64 = 1_000_000;

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A response head, then its body as steps.
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<Step>,
    },
    /// Sending fails with this error (connection refused, timeout, denied, ...).
    Fail(Box<Error>),
}

/// One step of a scripted body.
#[derive(Clone, Debug)]
pub enum Step {
    /// These bytes arrive.
    Data(Vec<u8>),
    /// Nothing arrives for this long (the clock moves while a blocking read waits).
    Silence(u64),
    /// The transport fails here.
    Fail(Box<Error>),
}

impl Reply {
    /// `200 application/json` with this body.
    pub fn json(body: &str) -> Reply {
        Reply::status(200, body)
    }

    /// A JSON body with this status.
    pub fn status(status: u16, body: &str) -> Reply {
        Reply::Answer {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: vec![Step::Data(body.as_bytes().to_vec())],
        }
    }

    /// A chat completion whose content is `text`.
    pub fn text(text: &str) -> Reply {
        Reply::json(&format!(
            r#"{{"model":"m","choices":[{{"index":0,"message":{{"role":"assistant","content":{}}},"finish_reason":"stop"}}]}}"#,
            serde_json::Value::from(text)
        ))
    }

    /// An SSE stream, one step per item: `data: <payload>\n\n` for strings, as given for
    /// steps.
    pub fn sse(steps: Vec<Step>) -> Reply {
        Reply::Answer {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            body: steps,
        }
    }

    /// The same answer with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Answer { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

/// An SSE event step.
pub fn event(payload: &str) -> Step {
    Step::Data(format!("data: {payload}\n\n").into_bytes())
}

/// A content delta chunk.
pub fn delta(text: &str) -> Step {
    event(&format!(
        r#"{{"choices":[{{"index":0,"delta":{{"content":{}}}}}]}}"#,
        serde_json::Value::from(text)
    ))
}

/// A connection error, as the WASI transport reports a refused connection.
pub fn refused() -> Box<Error> {
    Box::new(Error::new(ErrorCode::Connection, "connection refused"))
}

/// A request as the client sent it.
#[derive(Clone, Debug)]
pub struct Sent {
    pub method: Method,
    /// `scheme://authority` + path.
    pub url: String,
    pub body: Option<serde_json::Value>,
    /// The `X-Request-Id` header.
    pub request_id: Option<String>,
}

#[derive(Default)]
struct World {
    now_ns: u64,
    queued: HashMap<String, VecDeque<Reply>>,
    defaults: HashMap<String, Reply>,
    sent: Vec<Sent>,
    slept_ms: Vec<u64>,
    /// Sizes of the `send_all` batches (requests sent together).
    batches: Vec<usize>,
}

/// The fake [`Io`]; clones share one world.
#[derive(Clone, Default)]
pub struct FakeIo(Rc<RefCell<World>>);

impl FakeIo {
    /// The reply for every request to `url` (when nothing is queued).
    pub fn on(&self, url: &str, reply: Reply) -> &Self {
        self.0.borrow_mut().defaults.insert(url.into(), reply);
        self
    }

    /// A one-shot reply for the next request to `url`.
    pub fn push(&self, url: &str, reply: Reply) -> &Self {
        self.0
            .borrow_mut()
            .queued
            .entry(url.into())
            .or_default()
            .push_back(reply);
        self
    }

    /// Requests sent so far.
    pub fn sent(&self) -> Vec<Sent> {
        self.0.borrow().sent.clone()
    }

    /// URLs requested so far, in order.
    pub fn urls(&self) -> Vec<String> {
        self.0.borrow().sent.iter().map(|s| s.url.clone()).collect()
    }

    /// The sizes of the batches sent together with `send_all`, in order.
    pub fn batches(&self) -> Vec<usize> {
        self.0.borrow().batches.clone()
    }

    /// How long the client slept, each time.
    pub fn slept_ms(&self) -> Vec<u64> {
        self.0.borrow().slept_ms.clone()
    }

    /// Moves the clock.
    pub fn advance_ms(&self, ms: u64) {
        self.0.borrow_mut().now_ns += ms * NS_PER_MS;
    }
}

impl Io for FakeIo {
    type Incoming = FakeIncoming;

    fn send_all(
        &self,
        requests: &[(Request<'_>, PhaseTimeouts)],
        deadline: Deadline,
    ) -> Vec<Result<FakeIncoming, Error>> {
        self.0.borrow_mut().batches.push(requests.len());
        requests
            .iter()
            .map(|(r, t)| self.send(r, *t, deadline))
            .collect()
    }

    fn send(
        &self,
        request: &Request<'_>,
        _timeouts: PhaseTimeouts,
        _deadline: Deadline,
    ) -> Result<FakeIncoming, Error> {
        let url = format!("{}{}", request.base.origin(), request.path);
        let mut world = self.0.borrow_mut();
        world.sent.push(Sent {
            method: request.method,
            url: url.clone(),
            body: request.body.and_then(|b| serde_json::from_slice(b).ok()),
            request_id: request.request_id.map(str::to_string),
        });
        let reply = world
            .queued
            .get_mut(&url)
            .and_then(VecDeque::pop_front)
            .or_else(|| world.defaults.get(&url).cloned())
            .unwrap_or_else(|| Reply::status(404, r#"{"error":{"message":"nothing scripted"}}"#));
        match reply {
            Reply::Fail(e) => Err(*e),
            Reply::Answer {
                status,
                headers,
                body,
            } => Ok(FakeIncoming {
                world: self.clone(),
                status,
                headers,
                steps: body.into(),
                read: 0,
                silent_until: None,
            }),
        }
    }

    fn now_ns(&self) -> u64 {
        self.0.borrow().now_ns
    }

    fn unix_s(&self) -> u64 {
        1_700_000_000 + self.now_ns() / (1000 * NS_PER_MS)
    }

    fn sleep_ms(&self, ms: u64, deadline: Deadline) {
        let mut world = self.0.borrow_mut();
        world.slept_ms.push(ms);
        world.now_ns = (world.now_ns + ms * NS_PER_MS).min(deadline.at_ns.max(world.now_ns));
    }

    fn random_u64(&self) -> u64 {
        0x1234_5678_9abc_def0
    }
}

/// A scripted response.
pub struct FakeIncoming {
    world: FakeIo,
    status: u16,
    headers: Vec<(String, String)>,
    steps: VecDeque<Step>,
    read: u64,
    /// Monotonic ns until which the current silence lasts.
    silent_until: Option<u64>,
}

impl Incoming for FakeIncoming {
    fn status(&self) -> u16 {
        self.status
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    fn read_chunk(&mut self, wait: Wait, deadline: Deadline) -> Result<Chunk, Error> {
        loop {
            let now = self.world.now_ns();
            if let Some(until) = self.silent_until {
                if now < until {
                    match wait {
                        Wait::Poll => return Ok(Chunk::Pending),
                        Wait::Block if until > deadline.at_ns => {
                            self.world
                                .advance_ms(deadline.at_ns.saturating_sub(now) / NS_PER_MS);
                            return Err(errors::total_timeout());
                        }
                        Wait::Block => self.world.advance_ms((until - now) / NS_PER_MS),
                    }
                }
                self.silent_until = None;
            }
            return match self.steps.pop_front() {
                None => Ok(Chunk::End),
                Some(Step::Data(bytes)) => {
                    self.read += bytes.len() as u64;
                    Ok(Chunk::Data(bytes))
                }
                Some(Step::Fail(e)) => Err(*e),
                Some(Step::Silence(ms)) => {
                    self.silent_until = Some(now + ms * NS_PER_MS);
                    continue;
                }
            };
        }
    }

    fn bytes_read(&self) -> u64 {
        self.read
    }
}
