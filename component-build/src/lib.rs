//! The one place that produces the component: a nested `cargo build` of the workspace's root
//! crate for `wasm32-wasip2` with the `guest` profile, in its own target directory
//! (`<target>/guest`), so it never waits on the lock an outer build holds and never compiles
//! wasmtime. The host's build script embeds what [`component`] returns; scripts run this
//! crate's binary (`cargo run -q --release -p component-build`), which prints the path.
//!
//! `AIOS_LLM_CORE_WASM=/path/to/llm-core.wasm` uses a prebuilt component instead (e.g. where
//! the wasm target cannot be installed).
//!
//! ```no_run
//! let built = component_build::component(std::path::Path::new("target/release"))?;
//! println!("{}", built.wasm.display());
//! # Ok::<(), component_build::Error>(())
//! ```
#![deny(missing_docs)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The environment variable naming a prebuilt component to use instead of building one.
pub const PREBUILT_ENV: &str = "AIOS_LLM_CORE_WASM";

/// The component crate's package name.
const PACKAGE: &str = "aios-llm-core";

/// A component ready to use, and what it was made from.
#[derive(Clone, Debug)]
pub struct Built {
    /// The `.wasm` file.
    pub wasm: PathBuf,
    /// The files it depends on (for a build script's `rerun-if-changed`).
    pub inputs: Vec<PathBuf>,
}

/// Why there is no component.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The repository root, where the component crate lives.
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// The component: the file named by [`PREBUILT_ENV`] when set, else built (or found up to
/// date) in the `guest` directory of the cargo target directory that holds `near` (any path
/// inside it: a build script's `OUT_DIR`, a binary's own path).
pub fn component(near: &Path) -> Result<Built, Error> {
    if let Some(prebuilt) = std::env::var_os(PREBUILT_ENV) {
        let wasm = PathBuf::from(prebuilt);
        if !wasm.is_file() {
            return Err(Error(format!(
                "{PREBUILT_ENV}={} is not a file",
                wasm.display()
            )));
        }
        return Ok(Built {
            inputs: vec![wasm.clone()],
            wasm,
        });
    }
    build(&guest_target_dir(near))
}

/// `<target>/guest`, where `<target>` is the nearest ancestor of `near` holding cargo's
/// `CACHEDIR.TAG` (else `near` itself).
pub fn guest_target_dir(near: &Path) -> PathBuf {
    near.ancestors()
        .find(|p| p.join("CACHEDIR.TAG").is_file())
        .unwrap_or(near)
        .join("guest")
}

/// Builds the component into `target_dir` and returns it.
pub fn build(target_dir: &Path) -> Result<Built, Error> {
    let root = workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args(["build", "--package", PACKAGE, "--profile", "guest"])
        .args(["--target", "wasm32-wasip2", "--target-dir"])
        .arg(target_dir)
        // Flags meant for the outer (native) build, e.g. -C target-cpu=native, do not apply
        // to wasm; the outer build's target and target directory are not ours.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_PRIMARY_PACKAGE")
        // Under `cargo clippy` the outer build sets these; this is a plain build
        // (scripts/test lints the component explicitly).
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env_remove("CLIPPY_CONF_DIR")
        // Our stdout is the answer (the path), or a build script's instructions to cargo.
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map_err(|e| Error(format!("cannot run cargo for the component build: {e}")))?;
    if !status.success() {
        return Err(Error(
            "building the component failed (see above). If the error is `can't find crate for \
             core`, the wasm target is missing: run `rustup target add wasm32-wasip2` \
             (scripts/ensure-toolchain does this), or set AIOS_LLM_CORE_WASM to a prebuilt \
             component."
                .into(),
        ));
    }
    Ok(Built {
        wasm: target_dir
            .join("wasm32-wasip2")
            .join("guest")
            .join("aios_llm_core.wasm"),
        inputs: ["src", "wit", "Cargo.toml", "Cargo.lock"]
            .iter()
            .map(|p| root.join(p))
            .collect(),
    })
}
