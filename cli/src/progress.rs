//! A line on stderr while a call has shown nothing yet: a slow server (a model loading, a
//! long prompt on a CPU) looks the same as a hung one, so after two seconds the CLI says
//! what it is waiting for. On a terminal the line counts up in place and is erased when the
//! answer starts; in a log it is written once, then every 30 seconds.

use crate::terminal::{self, dim};
use std::time::{Duration, Instant};

/// Silence before the first progress line.
pub const FIRST_AFTER: Duration = Duration::from_secs(2);

/// Runs `call`; when it takes longer than [`FIRST_AFTER`] and `enabled`, says on stderr
/// that it is waiting for `what`.
pub async fn while_waiting<F: Future>(what: &str, enabled: bool, call: F) -> F::Output {
    if !enabled {
        return call.await;
    }
    let in_place = terminal::stderr_is_terminal();
    let started = Instant::now();
    let mut next = FIRST_AFTER;
    let mut shown = false;
    let mut call = std::pin::pin!(call);
    loop {
        tokio::select! {
            output = &mut call => {
                if shown && in_place {
                    terminal::note_raw("\r\x1b[K");
                }
                return output;
            }
            () = tokio::time::sleep_until((started + next).into()) => {
                let secs = started.elapsed().as_secs();
                if in_place {
                    terminal::note_raw(&format!("\r\x1b[K{}", dim(&format!("waiting for {what}… {secs} s"))));
                    next += Duration::from_secs(1);
                } else {
                    terminal::note(&format!("waiting for {what}… {secs} s"));
                    next = if next < Duration::from_secs(30) {
                        Duration::from_secs(30)
                    } else {
                        next + Duration::from_secs(30)
                    };
                }
                shown = true;
            }
        }
    }
}
