//! Embeds the component: `component-build` builds the workspace's root crate for
//! `wasm32-wasip2` (or takes `AIOS_LLM_CORE_WASM`), and the library includes the file.

use std::path::PathBuf;

fn main() {
    println!(
        "cargo:rerun-if-env-changed={}",
        component_build::PREBUILT_ENV
    );
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let built = component_build::component(&out_dir).unwrap_or_else(|e| panic!("{e}"));
    for input in &built.inputs {
        println!("cargo:rerun-if-changed={}", input.display());
    }
    let embedded = out_dir.join("aios_llm_core.wasm");
    std::fs::copy(&built.wasm, &embedded)
        .unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.wasm.display()));
    println!("cargo:rustc-env=LLM_CORE_WASM={}", embedded.display());
}
