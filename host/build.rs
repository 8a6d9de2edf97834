//! Builds the component (the workspace's root crate) for `wasm32-wasip2` and hands its path
//! to the library, which embeds it.
//!
//! The inner `cargo build` uses its own target directory (`<target>/guest`), so it never
//! waits on the lock the outer build holds, and it builds only the small guest crate (never
//! wasmtime). Set `AIOS_LLM_CORE_WASM=/path/to/llm-core.wasm` to embed a prebuilt component
//! instead (e.g. where the wasm target cannot be installed).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=AIOS_LLM_CORE_WASM");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let embedded = out_dir.join("aios_llm_core.wasm");

    if let Some(prebuilt) = env::var_os("AIOS_LLM_CORE_WASM") {
        println!("cargo:rerun-if-changed={}", Path::new(&prebuilt).display());
        std::fs::copy(&prebuilt, &embedded).unwrap_or_else(|e| {
            panic!(
                "cannot copy AIOS_LLM_CORE_WASM={}: {e}",
                Path::new(&prebuilt).display()
            )
        });
        println!("cargo:rustc-env=LLM_CORE_WASM={}", embedded.display());
        return;
    }

    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("host/ lives in the workspace root")
        .to_path_buf();
    for watched in ["src", "wit", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let target_dir = target_root(&out_dir).join("guest");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--package",
            "aios-llm-core",
            "--profile",
            "guest",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir)
        // Flags meant for the host build (e.g. -C target-cpu=native) do not apply to wasm.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_PRIMARY_PACKAGE")
        // Under `cargo clippy` the outer build sets these; the inner build is a plain build
        // (scripts/test lints the component explicitly).
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env_remove("CLIPPY_CONF_DIR");
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo for the component build: {e}"));
    if !status.success() {
        panic!(
            "building the component failed (see above). If the error is `can't find crate for core`, \
             the wasm target is missing: run `rustup target add wasm32-wasip2` (scripts/test and \
             scripts/demo do this), or set AIOS_LLM_CORE_WASM to a prebuilt component."
        );
    }
    let built = target_dir
        .join("wasm32-wasip2")
        .join("guest")
        .join("aios_llm_core.wasm");
    std::fs::copy(&built, &embedded)
        .unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.display()));
    println!("cargo:rustc-env=LLM_CORE_WASM={}", embedded.display());
}

/// The target directory of the outer build: the nearest ancestor of OUT_DIR holding cargo's
/// `CACHEDIR.TAG` (falls back to OUT_DIR itself).
fn target_root(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|p| p.join("CACHEDIR.TAG").is_file())
        .unwrap_or(out_dir)
        .to_path_buf()
}
