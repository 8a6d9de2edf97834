//! The attempt loop: run an attempt on a backend the router picks, and on failure decide —
//! by the retry policy, the server's hints and the call's deadline — whether to try again,
//! where, and after how long. Failing backends cool down.

use super::Client;
use super::calls::Failure;
use crate::io::{Deadline, Io};
use crate::routing::{BackendId, Route, retry};
use crate::types::{Error, ErrorCode, TimeoutKind};

impl<I: Io> Client<I> {
    /// Runs `attempt` until it succeeds, a failure is final, attempts run out or the
    /// deadline passes. Each attempt goes to a backend picked by the routing strategy,
    /// preferring one not tried yet.
    pub(super) fn with_retries<T>(
        &self,
        eligible: &[BackendId],
        deadline: Deadline,
        route: Route,
        mut attempt: impl FnMut(BackendId, u32) -> Result<T, Failure>,
    ) -> Result<T, Error> {
        let policy = self.settings().retry;
        let mut tried: Vec<BackendId> = Vec::new();
        let mut attempts = 0u32;
        loop {
            let b = self.pick(eligible, &tried, deadline, route);
            attempts += 1;
            let outcome = attempt(b, attempts);
            // A streamed answer ends later, but this instance picks nothing else until then.
            self.state().backends[b.0].attempt_ended();
            let failure = match outcome {
                Ok(value) => {
                    self.state().backends[b.0].succeeded();
                    return Ok(value);
                }
                Err(f) => f,
            };
            let mut error = self.attribute(failure.error, b, attempts);
            if retry::is_backend_failure(&error) {
                let now = self.io().now_ms();
                let cooldown = self.settings().cooldown;
                self.state().backends[b.0].failed(now, &cooldown, failure.retry_after_ms);
            }
            if !retry::is_retryable(&error, failure.should_retry) || attempts >= policy.max_attempts
            {
                return Err(error);
            }
            if !tried.contains(&b) {
                tried.push(b);
            }
            // Another untried, healthy backend: go now. Otherwise back off.
            let wait = if self.untried_healthy(eligible, &tried) {
                0
            } else {
                let jitter = self.state().rng.unit();
                match retry::wait_ms(attempts - 1, &policy, failure.retry_after_ms, jitter) {
                    Some(w) => w,
                    None => {
                        error.message.push_str(
                            " (the server asked to wait longer than retry.max-retry-after-ms)",
                        );
                        return Err(error);
                    }
                }
            };
            if deadline.remaining_ms(self.io().now_ns()) <= wait {
                return Err(out_of_time(error, attempts));
            }
            if wait > 0 {
                self.io().sleep_ms(wait, deadline);
            }
        }
    }

    /// Names the backend and the attempt count in an attempt's error (and its partial).
    fn attribute(&self, mut error: Error, b: BackendId, attempts: u32) -> Error {
        let backend = self.backend(b);
        error.backend = Some(backend.name.clone());
        error.attempts = attempts;
        if let Some(p) = &mut error.partial {
            p.attempts = attempts;
        }
        if let ErrorCode::UnknownModel(list) = &mut error.code
            && list.is_empty()
        {
            list.extend(backend.models.iter().cloned());
        }
        error
    }

    fn untried_healthy(&self, eligible: &[BackendId], tried: &[BackendId]) -> bool {
        let now = self.io().now_ms();
        let state = self.state();
        eligible
            .iter()
            .any(|o| !tried.contains(o) && state.backends[o.0].cooling(now).is_none())
    }
}

/// The deadline ends the retries: a total timeout that keeps the last attempt's error.
fn out_of_time(error: Error, attempts: u32) -> Error {
    let last = error.message.clone();
    Error {
        code: ErrorCode::Timeout(TimeoutKind::Total),
        message: format!(
            "gave up after {attempts} attempt{}: the call's total time limit ran out; last error: {last}",
            if attempts == 1 { "" } else { "s" }
        ),
        ..error
    }
}
