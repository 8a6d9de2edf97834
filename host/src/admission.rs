//! Calls in flight per client, admitted in priority order. When a client is at
//! `max_concurrent_calls`, waiting calls start lowest `priority` first (AIOS's scheduler
//! order; vLLM's too), first come first served within a priority — a FIFO queue when nobody
//! sets priorities.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The gate of one client.
pub(crate) struct Gate {
    state: Mutex<State>,
}

struct State {
    free: usize,
    waiting: BinaryHeap<Waiter>,
    next_seq: u64,
}

/// A call waiting for a slot; the slot is sent to it as a [`Permit`].
struct Waiter {
    priority: i32,
    seq: u64,
    tx: oneshot::Sender<Permit>,
}

// The heap pops its greatest element: make that the lowest priority value, then the oldest.
impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .priority
            .cmp(&self.priority)
            .then(other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Waiter {}

/// A slot: held for the life of a call (or a stream); dropping it admits the next waiter.
pub(crate) struct Permit {
    gate: Option<Arc<Gate>>,
}

impl Gate {
    /// A gate with `slots` calls in flight at most.
    pub(crate) fn new(slots: usize) -> Arc<Gate> {
        Arc::new(Gate {
            state: Mutex::new(State {
                free: slots.max(1),
                waiting: BinaryHeap::new(),
                next_seq: 0,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a slot; with others waiting, the lowest `priority` goes first. Dropping the
    /// returned future gives up the place in the queue.
    pub(crate) async fn acquire(self: &Arc<Self>, priority: i32) -> Permit {
        let rx = {
            let mut state = self.lock();
            if state.free > 0 && state.waiting.is_empty() {
                state.free -= 1;
                return Permit {
                    gate: Some(self.clone()),
                };
            }
            let (tx, rx) = oneshot::channel();
            let seq = state.next_seq;
            state.next_seq += 1;
            state.waiting.push(Waiter { priority, seq, tx });
            rx
        };
        // The sender lives in the queue until a slot is handed over: never dropped unsent.
        rx.await.unwrap_or(Permit { gate: None })
    }

    /// A slot came back: hand it to the first waiter still waiting, else keep it free.
    fn release(self: &Arc<Self>) {
        let mut state = self.lock();
        while let Some(waiter) = state.waiting.pop() {
            let permit = Permit {
                gate: Some(self.clone()),
            };
            match waiter.tx.send(permit) {
                Ok(()) => return,
                // That caller gave up; the permit comes back here (its drop must not
                // re-enter the lock): forget it and try the next.
                Err(mut returned) => returned.gate = None,
            }
        }
        state.free += 1;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            gate.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_calls_start_by_priority_then_in_arrival_order() {
        let gate = Gate::new(1);
        let held = gate.acquire(0).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, priority) in [("a", 5), ("b", 1), ("c", 5), ("d", -2), ("e", 1)] {
            let (gate, order) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire(priority).await;
                order.lock().unwrap().push(name);
            }));
            // Arrival order is the spawn order.
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["d", "b", "e", "a", "c"]);
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_does_not_keep_its_slot() {
        let gate = Gate::new(1);
        let held = gate.acquire(0).await;
        let gave_up =
            tokio::time::timeout(std::time::Duration::from_millis(10), gate.acquire(0)).await;
        assert!(gave_up.is_err());
        drop(held);
        let again =
            tokio::time::timeout(std::time::Duration::from_millis(100), gate.acquire(0)).await;
        assert!(again.is_ok(), "the slot came back");
    }
}
