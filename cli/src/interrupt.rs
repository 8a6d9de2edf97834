//! Ctrl-C while an answer streams: instead of ending the process, the signal is received
//! here, so the stream can be suspended to a checkpoint. Listening starts only once a
//! stream is running (before that, Ctrl-C ends the run as usual) and a signal that arrives
//! between two polls is kept until it is asked for.

use std::io;

/// SIGINT (Ctrl-C), received rather than fatal from [`Interrupts::listen`] on.
pub struct Interrupts {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Interrupts {
    /// Takes Ctrl-C over from now on (on Unix at once, so none is missed).
    pub fn listen() -> io::Result<Interrupts> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Interrupts {
                signal: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Interrupts {})
        }
    }

    /// The next Ctrl-C (cancel-safe: one that arrives while nobody waits is kept).
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        if self.signal.recv().await.is_none() {
            std::future::pending::<()>().await;
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
