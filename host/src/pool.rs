//! A client: a pool of component instances, each holding a guest `client` resource opened
//! from the same configuration (see the crate docs for why).

use crate::Runtime;
use crate::admission::{Gate, Permit};
use crate::bindings::LlmCorePlugin;
use crate::errors;
use crate::limits::{CpuMeter, MemoryLimiter};
use crate::received::{BackendNames, CallLog};
use crate::sandbox::{Allowlist, HttpLimits, SandboxHooks};
use crate::shared_readings::{self, SharedReadings};
use crate::spent;
use crate::stream::ChatStream;
use crate::types::{
    BackendHealth, ChatRequest, ChatResponse, Checkpoint, ClientConfig, EmbedRequest, Embeddings,
    Error, ErrorCode, ModelInfo, TokenCount, ToolCall,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::{ResourceAny, ResourceTable};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Per-store data: a WASI context with nothing granted (no files, env, args or sockets), and
/// the HTTP hooks of the sandbox.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: SandboxHooks,
    memory: MemoryLimiter,
    cpu: CpuMeter,
}

impl HostState {
    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// Drops what wasmtime-wasi-http left in the table for calls already over.
    fn drop_spent_request_options(&mut self) {
        spent::drop_request_options(&mut self.table);
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.hooks,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

/// One instance with its opened guest client.
pub(crate) struct Instance {
    pub store: Store<HostState>,
    pub plugin: LlmCorePlugin,
    pub client: ResourceAny,
}

impl Instance {
    /// Starts a call (or a stream): an empty request log, and the whole CPU budget.
    pub fn begin_call(&mut self) {
        self.store.data_mut().hooks.log = CallLog::default();
        self.reset_cpu();
    }

    /// Gives the next call into the component its whole CPU budget (`max_cpu_time` is per
    /// call into the component, so each stream read gets its own).
    pub fn reset_cpu(&mut self) {
        self.store.data_mut().cpu.reset();
    }

    /// A wasmtime failure of a call into this instance, classified (see `errors`), with
    /// the backend and attempts of the call so far.
    pub fn trap_error(&self, names: &BackendNames, context: &str, trap: wasmtime::Error) -> Error {
        let data = self.store.data();
        let mut e = errors::from_wasmtime(context, trap, data.memory.tripped());
        names.annotate(&mut e, &data.hooks.log);
        e
    }
}

pub(crate) struct Shared {
    runtime: Arc<Runtime>,
    config: ClientConfig,
    names: BackendNames,
    allow: Arc<Allowlist>,
    readings: Arc<SharedReadings>,
    idle: Mutex<Vec<Instance>>,
    permits: Arc<Gate>,
    /// Instances created so far; instance k opens its client with routing seed base + k.
    created: std::sync::atomic::AtomicU64,
    /// The configured routing seed, else a random one per client (so clients in separate
    /// processes do not all start on the same backend).
    seed_base: u64,
    /// Calls made so far: each call's routing ticket, so round-robin follows one sequence
    /// across instances.
    tickets: std::sync::atomic::AtomicU64,
}

/// Where a client's call numbering starts: its routing seed, else random.
fn first_ticket(seed: &Option<u64>) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    seed.unwrap_or_else(|| {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    })
}

/// A client's instance pool at one moment ([`Client::pool_stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Instances waiting for a call.
    pub idle_instances: usize,
    /// Instances created since the client was opened (the first one included).
    pub instances_created: u64,
    /// Linear memory of the idle instances, in bytes (a guest's memory never shrinks, so a
    /// leak inside the component shows here).
    pub idle_memory_bytes: usize,
    /// Host resources (HTTP requests, responses, bodies, streams, pollables) the idle
    /// instances still hold: none once their calls are over, unless the guest leaks them.
    pub idle_host_resources: usize,
}

/// A configured LLM client. Cheap to clone; clones share the instance pool.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

/// An instance checked out for one call. Returned to the pool only after a clean call
/// (`release`); dropped otherwise (a trap, or a call cancelled half-way, leaves the store in
/// an unknown state).
pub(crate) struct Lease {
    shared: Arc<Shared>,
    instance: Option<Instance>,
    _permit: Permit,
}

impl Lease {
    pub fn get(&mut self) -> &mut Instance {
        self.instance
            .as_mut()
            .expect("a lease holds its instance until released")
    }

    /// A wasmtime failure of a call into the leased instance, classified, with the call's
    /// backend and attempts (see `Instance::trap_error`).
    pub fn trap_error(&self, context: &str, trap: wasmtime::Error) -> Error {
        match &self.instance {
            Some(i) => i.trap_error(&self.shared.names, context, trap),
            None => errors::internal(context, trap),
        }
    }

    /// The host's cap on a whole call.
    pub fn max_call_duration(&self) -> Duration {
        self.shared.runtime.options.max_call_duration
    }

    /// The error of a call stopped at `max_call_duration`, with its backend and attempts.
    pub fn call_too_long(&self) -> Error {
        let mut e = errors::call_too_long(self.max_call_duration());
        if let Some(i) = &self.instance {
            self.shared
                .names
                .annotate(&mut e, &i.store.data().hooks.log);
        }
        e
    }

    pub fn release(mut self) {
        if let Some(mut instance) = self.instance.take() {
            instance.store.data_mut().drop_spent_request_options();
            self.shared
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(instance);
        }
    }
}

impl Client {
    pub(crate) async fn open(runtime: Arc<Runtime>, config: ClientConfig) -> Result<Client, Error> {
        let allow = match &runtime.options.allowed_origins {
            Some(list) => Allowlist::new(list),
            None => Allowlist::new(config.backends.iter().map(|b| b.base_url.as_str())),
        };
        let permits = Gate::new(runtime.options.max_concurrent_calls);
        let seed_base = first_ticket(&config.routing_seed);
        let window = shared_readings::window_for(&config);
        let shared = Arc::new(Shared {
            runtime,
            names: BackendNames::new(&config),
            config,
            allow: Arc::new(allow),
            readings: Arc::new(SharedReadings::new(window)),
            idle: Mutex::new(Vec::new()),
            permits,
            created: std::sync::atomic::AtomicU64::new(0),
            seed_base,
            // A random start, so one-shot clients (a CLI run each) spread too.
            tickets: std::sync::atomic::AtomicU64::new(seed_base),
        });
        let client = Client { shared };
        // Opening the first instance validates the configuration.
        client.lease(0).await?.release();
        Ok(client)
    }

    /// Creates instances until `n` are idle, so the first calls skip instantiation.
    pub async fn prewarm(&self, n: usize) -> Result<(), Error> {
        while self
            .shared
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
            < n
        {
            let instance = self.instantiate().await?;
            self.shared
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(instance);
        }
        Ok(())
    }

    /// The instance pool now: idle instances, instances created so far, and the idle ones'
    /// memory and host resources. Diagnostics, so a long run can show its pool stays bounded
    /// (at most `max_concurrent_calls` idle; more created only after traps and cancelled
    /// calls, which drop theirs) and leaks nothing (tests/all/soak.rs).
    pub fn pool_stats(&self) -> PoolStats {
        let mut idle = self.shared.idle.lock().unwrap_or_else(|p| p.into_inner());
        let idle_host_resources = idle
            .iter_mut()
            .map(|i| i.store.data_mut().table.iter_mut().count())
            .sum();
        PoolStats {
            idle_host_resources,
            idle_instances: idle.len(),
            idle_memory_bytes: idle.iter().map(|i| i.store.data().memory.granted()).sum(),
            instances_created: self
                .shared
                .created
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The origins this client's component may reach.
    pub fn allowed_origins(&self) -> &[String] {
        self.shared.allow.origins()
    }

    /// A slot and an instance for one call; when the client is at `max_concurrent_calls`,
    /// waiting calls are admitted lowest `priority` first (FIFO within a priority).
    pub(crate) async fn lease(&self, priority: i32) -> Result<Lease, Error> {
        let options = &self.shared.runtime.options;
        let permit = match tokio::time::timeout(
            options.queue_timeout,
            self.shared.permits.acquire(priority),
        )
        .await
        {
            Ok(permit) => permit,
            Err(_) => {
                return Err(Error::new(
                    ErrorCode::LimitExceeded,
                    format!(
                        "{} calls are already in flight (the host's max_concurrent_calls) and none finished within {} ms",
                        options.max_concurrent_calls,
                        options.queue_timeout.as_millis()
                    ),
                ));
            }
        };
        let idle = self
            .shared
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        let instance = match idle {
            Some(i) => i,
            None => self.instantiate().await?,
        };
        Ok(Lease {
            shared: self.shared.clone(),
            instance: Some(instance),
            _permit: permit,
        })
    }

    async fn instantiate(&self) -> Result<Instance, Error> {
        let runtime = &self.shared.runtime;
        let options = &runtime.options;
        let state = HostState {
            wasi: WasiCtxBuilder::new()
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: SandboxHooks {
                allow: self.shared.allow.clone(),
                limits: HttpLimits {
                    max_response_bytes: options.max_response_bytes,
                    max_timeout: options.max_timeout,
                },
                sender: runtime.transport.clone(),
                readings: self.shared.readings.clone(),
                log: CallLog::default(),
            },
            memory: MemoryLimiter::new(options.max_memory_bytes),
            cpu: CpuMeter::new(options.max_cpu_time),
        };
        let mut store = Store::new(&runtime.engine, state);
        store.limiter(|s| &mut s.memory);
        store.call_hook(|mut ctx, hook| {
            ctx.data_mut().cpu.hook(hook);
            Ok(())
        });
        // Each epoch tick while wasm runs: over budget is a trap, else yield to other tasks.
        store.epoch_deadline_callback(|ctx| {
            ctx.data().cpu.check().map_err(wasmtime::Error::new)?;
            Ok(UpdateDeadline::Yield(1))
        });
        store.set_epoch_deadline(1);
        let plugin = match runtime.pre.instantiate_async(&mut store).await {
            Ok(plugin) => plugin,
            Err(e) => {
                let memory = store.data().memory.tripped();
                return Err(errors::from_wasmtime(
                    "cannot instantiate the component",
                    e,
                    memory,
                ));
            }
        };
        // Consecutive seeds: instances start round-robin on successive backends and each
        // alternates, so together they spread like one client (see the crate docs).
        let ordinal = self
            .shared
            .created
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut config = self.shared.config.clone();
        config.routing_seed = Some(self.shared.seed_base.wrapping_add(ordinal));
        let opened = plugin
            .aios_llm_llm_core()
            .client()
            .call_open(&mut store, &config)
            .await;
        let opened = match opened {
            Ok(opened) => opened,
            Err(e) => {
                let memory = store.data().memory.tripped();
                return Err(errors::from_wasmtime("client.open failed", e, memory));
            }
        };
        Ok(Instance {
            store,
            plugin,
            client: opened?,
        })
    }

    /// Numbers a call for round-robin (unless the caller did).
    fn ticketed(&self, mut request: ChatRequest) -> ChatRequest {
        if request.routing_ticket.is_none() {
            request.routing_ticket = Some(
                self.shared
                    .tickets
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            );
        }
        request
    }

    /// Runs one call on a leased instance.
    async fn call<T>(
        &self,
        what: &str,
        priority: i32,
        f: impl AsyncFnOnce(&mut Instance) -> wasmtime::Result<Result<T, Error>>,
    ) -> Result<T, Error> {
        let mut lease = self.lease(priority).await?;
        lease.get().begin_call();
        let limit = lease.max_call_duration();
        match tokio::time::timeout(limit, f(lease.get())).await {
            Ok(Ok(result)) => {
                lease.release();
                result
            }
            Ok(Err(trap)) => Err(lease.trap_error(what, trap)),
            // The call was dropped mid-way: the lease drops the instance.
            Err(_) => Err(lease.call_too_long()),
        }
    }

    /// One chat completion (AIOS `llm_chat`).
    pub async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, Error> {
        let request = self.ticketed(request);
        self.call(
            "chat",
            request.priority.unwrap_or(0),
            async |i: &mut Instance| {
                i.plugin
                    .aios_llm_llm_core()
                    .client()
                    .call_chat(&mut i.store, i.client, &request)
                    .await
            },
        )
        .await
    }

    /// Chat returning JSON text (AIOS `llm_chat_with_json_output`).
    pub async fn chat_with_json_output(&self, request: ChatRequest) -> Result<String, Error> {
        let request = self.ticketed(request);
        self.call(
            "chat-with-json-output",
            request.priority.unwrap_or(0),
            async |i: &mut Instance| {
                i.plugin
                    .aios_llm_llm_core()
                    .client()
                    .call_chat_with_json_output(&mut i.store, i.client, &request)
                    .await
            },
        )
        .await
    }

    /// Chat returning tool calls (AIOS `llm_chat_with_tool_call_output`).
    pub async fn chat_with_tool_call_output(
        &self,
        request: ChatRequest,
    ) -> Result<Vec<ToolCall>, Error> {
        let request = self.ticketed(request);
        self.call(
            "chat-with-tool-call-output",
            request.priority.unwrap_or(0),
            async |i: &mut Instance| {
                i.plugin
                    .aios_llm_llm_core()
                    .client()
                    .call_chat_with_tool_call_output(&mut i.store, i.client, &request)
                    .await
            },
        )
        .await
    }

    /// A streamed chat: a `futures::Stream` of events ending with `StreamEvent::Done`.
    pub async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream, Error> {
        let request = self.ticketed(request);
        self.start_stream(StreamStart::Chat(request)).await
    }

    /// Continues a suspended generation ([`ChatStream::suspend`]) on any backend that
    /// serves its model: the stream yields only the continuation, and its `Done` record is
    /// the whole answer.
    pub async fn resume(&self, mut checkpoint: Checkpoint) -> Result<ChatStream, Error> {
        checkpoint.request = self.ticketed(checkpoint.request);
        self.start_stream(StreamStart::Resume(checkpoint)).await
    }

    async fn start_stream(&self, start: StreamStart) -> Result<ChatStream, Error> {
        let mut lease = self.lease(start.priority()).await?;
        let deadline = tokio::time::Instant::now() + lease.max_call_duration();
        let started = {
            let i = lease.get();
            i.begin_call();
            let client = i.plugin.aios_llm_llm_core().client();
            match &start {
                StreamStart::Chat(request) => {
                    let call = client.call_chat_stream(&mut i.store, i.client, request);
                    tokio::time::timeout_at(deadline, call).await
                }
                StreamStart::Resume(checkpoint) => {
                    let call = client.call_resume(&mut i.store, i.client, checkpoint);
                    tokio::time::timeout_at(deadline, call).await
                }
            }
        };
        match started {
            Ok(Ok(Ok(handle))) => Ok(ChatStream::new(lease, handle, start.model(), deadline)),
            Ok(Ok(Err(e))) => {
                lease.release();
                Err(e)
            }
            Ok(Err(trap)) => Err(lease.trap_error("chat-stream", trap)),
            Err(_) => Err(lease.call_too_long()),
        }
    }

    /// The prompt tokens a request would use, as a server that serves its model counts
    /// them (chat template and tools included), with the model's context length when known.
    pub async fn count_tokens(&self, request: ChatRequest) -> Result<TokenCount, Error> {
        self.call(
            "count-tokens",
            request.priority.unwrap_or(0),
            async |i: &mut Instance| {
                i.plugin
                    .aios_llm_llm_core()
                    .client()
                    .call_count_tokens(&mut i.store, i.client, &request)
                    .await
            },
        )
        .await
    }

    /// Embeddings of texts, one vector per input, in input order (`POST /v1/embeddings`,
    /// in batches).
    pub async fn embed(&self, request: EmbedRequest) -> Result<Embeddings, Error> {
        self.call("embed", 0, async |i: &mut Instance| {
            i.plugin
                .aios_llm_llm_core()
                .client()
                .call_embed(&mut i.store, i.client, &request)
                .await
        })
        .await
    }

    /// Models of every backend.
    pub async fn list_models(&self) -> Result<Vec<ModelInfo>, Error> {
        self.call("list-models", 0, async |i: &mut Instance| {
            i.plugin
                .aios_llm_llm_core()
                .client()
                .call_list_models(&mut i.store, i.client)
                .await
        })
        .await
    }

    /// Probes every backend.
    pub async fn health(&self) -> Result<Vec<BackendHealth>, Error> {
        self.call("health", 0, async |i: &mut Instance| {
            i.plugin
                .aios_llm_llm_core()
                .client()
                .call_health(&mut i.store, i.client)
                .await
                .map(Ok)
        })
        .await
    }
}

/// How a stream begins: a new chat, or a suspended one continued.
enum StreamStart {
    Chat(ChatRequest),
    Resume(Checkpoint),
}

impl StreamStart {
    /// The request's scheduling priority (unset: 0).
    fn priority(&self) -> i32 {
        match self {
            StreamStart::Chat(r) => r.priority.unwrap_or(0),
            StreamStart::Resume(c) => c.request.priority.unwrap_or(0),
        }
    }

    /// The model asked for (for errors the host raises before the component answered).
    fn model(&self) -> String {
        let request = match self {
            StreamStart::Chat(r) => r,
            StreamStart::Resume(c) => &c.request,
        };
        request.model.clone().unwrap_or_default()
    }
}
