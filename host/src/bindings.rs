//! Host-side bindings for the `llm-core-plugin` world (from `wit/llm.wit`): every export is
//! called asynchronously, so a guest waiting on the network never blocks a thread.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "llm-core-plugin",
    imports: { default: async | trappable },
    exports: { default: async },
    with: { "wasi:io/poll": wasmtime_wasi::p2::bindings::io::poll },
    additional_derives: [PartialEq],
});
