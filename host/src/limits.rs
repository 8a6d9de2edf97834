//! The per-store limits on what one component instance may consume — CPU time per call into
//! it, and linear memory — each tripping as its own error type, so a trap is classified by
//! downcasting (`errors::from_wasmtime`), never by reading wasmtime's message text.

use std::fmt;
use std::time::{Duration, Instant};
use wasmtime::{CallHook, ResourceLimiter};

/// The trap raised when a call into the component used up [`crate::HostOptions::max_cpu_time`].
#[derive(Debug)]
pub(crate) struct CpuLimit {
    pub budget: Duration,
}

impl fmt::Display for CpuLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the component used up its CPU time ({} ms, max_cpu_time)",
            self.budget.as_millis()
        )
    }
}

impl std::error::Error for CpuLimit {}

/// The trap raised when the component asks to grow a linear memory past
/// [`crate::HostOptions::max_memory_bytes`].
#[derive(Debug)]
pub(crate) struct MemoryLimit {
    pub max: usize,
    pub desired: usize,
}

impl fmt::Display for MemoryLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the component asked for {} bytes of memory; the host allows {} (max_memory_bytes)",
            self.desired, self.max
        )
    }
}

impl std::error::Error for MemoryLimit {}

/// Time spent executing wasm in the current call into the component: the call hooks add
/// up the stretches between entering wasm and leaving it for the host (so waiting on the
/// network, which happens in the host, never counts).
pub(crate) struct CpuMeter {
    budget: Duration,
    used: Duration,
    entered: Option<Instant>,
}

impl CpuMeter {
    pub fn new(budget: Duration) -> CpuMeter {
        CpuMeter {
            budget,
            used: Duration::ZERO,
            entered: None,
        }
    }

    /// Starts a new call into the component with the whole budget.
    pub fn reset(&mut self) {
        self.used = Duration::ZERO;
        self.entered = None;
    }

    pub fn hook(&mut self, hook: CallHook) {
        match hook {
            CallHook::CallingWasm | CallHook::ReturningFromHost => {
                self.entered = Some(Instant::now())
            }
            CallHook::ReturningFromWasm | CallHook::CallingHost => {
                if let Some(t) = self.entered.take() {
                    self.used += t.elapsed();
                }
            }
        }
    }

    /// `Err(CpuLimit)` once the budget is spent (the epoch callback's verdict).
    pub fn check(&self) -> Result<(), CpuLimit> {
        let used = self.used + self.entered.map_or(Duration::ZERO, |t| t.elapsed());
        if used > self.budget {
            return Err(CpuLimit {
                budget: self.budget,
            });
        }
        Ok(())
    }
}

/// The store's resource limiter: memory growth up to `max_memory_bytes` (a growth past it
/// traps with [`MemoryLimit`] and is remembered, so a trap whose error was wrapped or
/// replaced on its way out is still told apart), and a few core instances per store.
pub(crate) struct MemoryLimiter {
    max: usize,
    /// The size asked for by the last growth refused, if any.
    denied: Option<usize>,
    /// Bytes of linear memory granted to the store's memories so far (they never shrink).
    granted: usize,
}

/// Core instances per store: one component instance holds a few (the program, WASI shims).
pub(crate) const CORE_INSTANCES_PER_STORE: usize = 4;

impl MemoryLimiter {
    pub fn new(max: usize) -> MemoryLimiter {
        MemoryLimiter {
            max,
            denied: None,
            granted: 0,
        }
    }

    /// The store's linear memory in bytes, all memories together.
    pub fn granted(&self) -> usize {
        self.granted
    }

    /// Whether a growth past the limit was refused since the store was made.
    pub fn tripped(&self) -> Option<MemoryLimit> {
        self.denied.map(|desired| MemoryLimit {
            max: self.max,
            desired,
        })
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.denied = Some(desired);
            // A trap rather than a failed `memory.grow`: the guest would only abort on it,
            // and the trap carries the cause.
            return Err(wasmtime::Error::new(MemoryLimit {
                max: self.max,
                desired,
            }));
        }
        self.granted += desired.saturating_sub(current);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables are bounded by the pooling allocator's slots.
        Ok(true)
    }

    fn instances(&self) -> usize {
        CORE_INSTANCES_PER_STORE
    }
}
