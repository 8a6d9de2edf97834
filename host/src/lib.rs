//! Wasmtime host for the `aios:llm` component: load it (embedded, or from a file), give it a
//! sandbox that reaches only the configured backends, and call it from async Rust.
//!
//! ```no_run
//! use llm_core_host::types::{BackendKind, ChatRequest, ClientConfig, Error};
//! use llm_core_host::{HostOptions, LlmCore};
//! # async fn demo() -> Result<(), Error> {
//! let core = LlmCore::new(HostOptions::default())?;
//! let client = core.client(ClientConfig::single(BackendKind::Vllm, "http://127.0.0.1:8000/v1")).await?;
//! let answer = client.chat(ChatRequest::user("Say hi")).await?;
//! println!("{}", answer.content.unwrap_or_default());
//! # Ok(()) }
//! ```
//!
//! # Concurrency design
//!
//! A component instance is single-threaded and a call into it holds its store exclusively,
//! so one instance can serve one call at a time. A [`Client`] therefore keeps a pool of
//! instances, each holding its own guest `client` resource opened from the same
//! configuration: a call (or a whole stream) checks an instance out, and concurrent calls
//! run on different instances in parallel. Instances are created on demand from one
//! `InstancePre` (compiled once per [`LlmCore`]), returned after a clean call, and thrown
//! away after a trap or a cancelled call. A semaphore caps calls in flight
//! ([`HostOptions::max_concurrent_calls`]).
//!
//! Routing state (round-robin cursor, cooldowns, discovered models, `/metrics` readings)
//! lives in each instance, except the round-robin position: the client numbers its calls and
//! passes each number as the request's `routing-ticket`, so `sequential` follows one sequence
//! across all instances (100 concurrent calls over two backends split exactly 50/50).
//! The rest is fine per instance: `least-loaded` reads the servers' own load from
//! `/metrics` (shared truth, not per-instance counts), and a dead backend costs each instance
//! at most one failed attempt per cooldown period — at most `max_concurrent_calls` failed
//! attempts per cooldown for the whole client (tested).

#![deny(missing_docs)]

mod admission;
// Generated from wit/llm.wit, whose every item is documented there (and carried into the
// generated types); the glue items bindgen adds have no docs to give.
#[allow(missing_docs)]
mod bindings;
mod cache;
mod errors;
mod http_errors;
mod limits;
mod pool;
mod received;
mod sandbox;
mod shared_readings;
mod spent;
mod stream;
mod transport;
mod values;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// The WIT types (`wit/llm.wit`): configuration, requests, responses, stream events, the
/// `error` record; with constructors for the common cases.
pub use bindings::exports::aios::llm::types;
pub use cache::{CacheOutcome, LoadReport, default_dir as default_cache_dir};
pub use pool::{Client, PoolStats};
pub use stream::ChatStream;
pub use values::Redacted;

/// The component built from this repository, embedded at compile time.
pub const EMBEDDED_COMPONENT: &[u8] = include_bytes!(env!("LLM_CORE_WASM"));

/// Host-side limits and policies, shared by every client of an [`LlmCore`].
#[derive(Clone, Debug)]
pub struct HostOptions {
    /// Origins (`scheme://host:port`, paths ignored) the component may reach. `None`: each
    /// client may reach exactly its configured backends.
    pub allowed_origins: Option<Vec<String>>,
    /// Calls (and open streams) in flight per client; further calls wait.
    pub max_concurrent_calls: usize,
    /// Linear memory per instance.
    pub max_memory_bytes: usize,
    /// Largest response body handed to the component.
    pub max_response_bytes: u64,
    /// Upper bound on every timeout the component requests (connect, first byte, between
    /// bytes: each phase of each request).
    pub max_timeout: Duration,
    /// Wall-clock cap on a whole call, whatever the component's own timeouts say: a `chat`
    /// (every attempt and backoff included) or a stream from `chat_stream` to its end. A
    /// call past it fails with `timeout(total)`, keeping the backend, attempts and a
    /// stream's delivered text; the instance is thrown away. It holds against a server that
    /// drips one byte per between-bytes interval forever, which `max_timeout` alone, being
    /// per phase, does not stop. Default 600 s.
    pub max_call_duration: Duration,
    /// How long a call waits for a free slot when `max_concurrent_calls` are in flight
    /// before failing with `limit-exceeded`.
    pub queue_timeout: Duration,
    /// CPU time each call into the component may spend executing wasm; a call that uses it
    /// up fails with `limit-exceeded`. Waiting for the network does not count. Checked every
    /// [`CPU_TICK`], which is also how often a busy component yields to other tasks.
    pub max_cpu_time: Duration,
    /// Instance slots of the pooling allocator, shared by every client of an `LlmCore`.
    /// Fixed when the `LlmCore` is created (`with_options` keeps it).
    pub max_instances: u32,
    /// Extra root certificates for `https` backends behind a private CA: PEM files, each
    /// holding one or more `-----BEGIN CERTIFICATE-----` blocks, trusted in addition to the
    /// public web roots. A file that cannot be read or holds no certificate makes
    /// [`LlmCore::new`] (and `with_options`) fail with `invalid-config`. Default: none.
    pub extra_root_certificates: Vec<PathBuf>,
    /// Directory of the compiled-component cache; `None` compiles on every start.
    pub compiled_cache: Option<PathBuf>,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            allowed_origins: None,
            max_concurrent_calls: 64,
            max_memory_bytes: 64 << 20,
            max_response_bytes: 16 << 20,
            max_timeout: Duration::from_secs(600),
            max_call_duration: Duration::from_secs(600),
            queue_timeout: Duration::from_secs(60),
            max_cpu_time: Duration::from_secs(10),
            max_instances: 1000,
            extra_root_certificates: Vec::new(),
            compiled_cache: cache::default_dir(),
        }
    }
}

/// A compiled component and its engine: create once, make clients from it.
#[derive(Clone)]
pub struct LlmCore {
    inner: Arc<Runtime>,
}

pub(crate) struct Runtime {
    pub engine: Engine,
    pub component: Component,
    pub pre: bindings::LlmCorePluginPre<pool::HostState>,
    pub options: HostOptions,
    pub transport: Arc<transport::Transport>,
    pub load: LoadReport,
    /// Keeps the epoch ticker running while the runtime lives.
    _ticker: Arc<()>,
}

/// How often the epoch ticks: the granularity of the CPU limit and of yielding.
pub const CPU_TICK: Duration = Duration::from_millis(10);

/// Increments the engine's epoch every tick until `alive` is dropped.
fn start_ticker(engine: &Engine) -> Arc<()> {
    let alive = Arc::new(());
    let weak = Arc::downgrade(&alive);
    let engine = engine.clone();
    let _ = std::thread::Builder::new()
        .name("llm-core-epoch".into())
        .spawn(move || {
            while weak.strong_count() > 0 {
                std::thread::sleep(CPU_TICK);
                engine.increment_epoch();
            }
        });
    alive
}

impl LlmCore {
    /// Loads the embedded component.
    pub fn new(options: HostOptions) -> Result<LlmCore, types::Error> {
        LlmCore::from_bytes(EMBEDDED_COMPONENT, options)
    }

    /// Loads a component file (any build of `aios:llm/llm-core@0.1.0`).
    pub fn from_file(
        path: impl AsRef<Path>,
        options: HostOptions,
    ) -> Result<LlmCore, types::Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| {
            types::Error::new(
                types::ErrorCode::InvalidConfig,
                format!("cannot read component {}: {e}", path.display()),
            )
        })?;
        LlmCore::from_bytes(&bytes, options)
    }

    /// Compiles a component from bytes.
    pub fn from_bytes(bytes: &[u8], options: HostOptions) -> Result<LlmCore, types::Error> {
        let engine = Engine::new(&engine_config(&options))
            .map_err(|e| errors::internal("cannot create the wasm engine", e))?;
        let (component, load) =
            cache::load_or_compile(&engine, bytes, options.compiled_cache.as_deref())
                .map_err(|e| errors::internal("cannot compile the component", e))?;
        LlmCore::from_component(engine, component, options, load)
    }

    fn from_component(
        engine: Engine,
        component: Component,
        options: HostOptions,
        load: LoadReport,
    ) -> Result<LlmCore, types::Error> {
        let mut linker: Linker<pool::HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| errors::internal("cannot link WASI", e))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| errors::internal("cannot link wasi:http", e))?;
        http_errors::add_to_linker(&mut linker)
            .map_err(|e| errors::internal("cannot link wasi:http error codes", e))?;
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
            errors::internal(
                "the component does not fit this host (is it aios:llm/llm-core@0.1.0?)",
                e,
            )
        })?;
        let pre = bindings::LlmCorePluginPre::new(instance_pre).map_err(|e| {
            errors::internal("the component does not export aios:llm/llm-core@0.1.0", e)
        })?;
        let transport =
            transport::Transport::new(Duration::from_secs(90), &options.extra_root_certificates)
                .map_err(|why| types::Error::new(types::ErrorCode::InvalidConfig, why))?;
        Ok(LlmCore {
            inner: Arc::new(Runtime {
                _ticker: start_ticker(&engine),
                engine,
                component,
                pre,
                options,
                transport: Arc::new(transport),
                load,
            }),
        })
    }

    /// The same compiled component under other host options (its own connection pool).
    pub fn with_options(&self, options: HostOptions) -> Result<LlmCore, types::Error> {
        let load = LoadReport {
            elapsed: Duration::ZERO,
            ..self.inner.load.clone()
        };
        LlmCore::from_component(
            self.inner.engine.clone(),
            self.inner.component.clone(),
            options,
            load,
        )
    }

    /// How the component was loaded (compiled, or from the cache) and how long it took.
    pub fn load_report(&self) -> &LoadReport {
        &self.inner.load
    }

    /// The host options this `LlmCore` applies.
    pub fn options(&self) -> &HostOptions {
        &self.inner.options
    }

    /// The wasmtime engine the component was compiled for.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Connection pools the host keeps (one per distinct connect timeout in use, at most
    /// eight, least recently used dropped first): for diagnostics and tests.
    pub fn connection_pools(&self) -> usize {
        self.inner.transport.pool_count()
    }

    /// Creates a client: validates the configuration in a first instance (so an invalid
    /// configuration fails here, with `invalid-config`).
    pub async fn client(&self, config: types::ClientConfig) -> Result<Client, types::Error> {
        Client::open(self.inner.clone(), config).await
    }
}

/// The engine: epoch interruption (the CPU limit's checks and yields; far cheaper than fuel
/// metering, which cost about a quarter of streaming throughput) and the pooling instance
/// allocator (instantiation in microseconds: slots are reserved once and reused).
fn engine_config(options: &HostOptions) -> Config {
    let mut pool = PoolingAllocationConfig::new();
    // One component instance holds a few core instances (the program, WASI shims), with
    // their memories and tables.
    let per_component = limits::CORE_INSTANCES_PER_STORE as u32;
    pool.total_component_instances(options.max_instances)
        .total_core_instances(options.max_instances.saturating_mul(per_component))
        .total_memories(options.max_instances.saturating_mul(per_component))
        .total_tables(options.max_instances.saturating_mul(per_component))
        .total_stacks(options.max_instances)
        .max_memory_size(options.max_memory_bytes);
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}
