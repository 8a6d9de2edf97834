//! A disk cache of compiled components, so a process starts in milliseconds instead of
//! compiling with Cranelift. An entry is keyed by the component's BLAKE3 hash and the
//! engine's precompile-compatibility hash (wasmtime version and every setting that affects
//! code), and carries a BLAKE3 checksum of its contents that is verified before the bytes are
//! trusted. A missing, stale, corrupt or unreadable entry is ignored and rebuilt. The checksum
//! catches damage, not tampering: on Unix, entries are written owner-only and one that is
//! not the user's own, or that others could have written, is never loaded.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wasmtime::Engine;
use wasmtime::component::Component;

/// How a component was obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// No cache configured: compiled.
    Compiled,
    /// Not in the cache (or the entry was unusable): compiled and stored.
    Stored,
    /// Loaded from a verified cache entry.
    Hit,
}

/// What loading cost.
#[derive(Clone, Debug)]
pub struct LoadReport {
    pub outcome: CacheOutcome,
    pub elapsed: Duration,
    /// The cache entry used or written, if any.
    pub entry: Option<PathBuf>,
}

/// `$AIOS_LLM_CORE_CACHE`, else `$XDG_CACHE_HOME/aios-llm-core`, else `~/.cache/aios-llm-core`,
/// plus `/compiled`.
pub fn default_dir() -> Option<PathBuf> {
    let base = std::env::var_os("AIOS_LLM_CORE_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(|x| PathBuf::from(x).join("aios-llm-core"))
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/aios-llm-core"))
                })
        })?;
    Some(base.join("compiled"))
}

struct Blake3Hasher(blake3::Hasher);

impl Hasher for Blake3Hasher {
    fn finish(&self) -> u64 {
        let hash = self.0.finalize();
        u64::from_le_bytes(hash.as_bytes()[..8].try_into().unwrap_or_default())
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// The entry path for `bytes` compiled by `engine`.
pub fn entry_path(dir: &Path, engine: &Engine, bytes: &[u8]) -> PathBuf {
    let mut hasher = Blake3Hasher(blake3::Hasher::new());
    hasher.0.update(bytes);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let key = hasher.0.finalize().to_hex();
    dir.join(format!("{}.cwasm", &key[..32]))
}

const CHECKSUM_LEN: usize = 32;

/// Compiles `bytes`, or loads them from the cache in `dir`.
pub fn load_or_compile(
    engine: &Engine,
    bytes: &[u8],
    dir: Option<&Path>,
) -> wasmtime::Result<(Component, LoadReport)> {
    let started = Instant::now();
    let Some(dir) = dir else {
        let component = Component::new(engine, bytes)?;
        return Ok((
            component,
            LoadReport {
                outcome: CacheOutcome::Compiled,
                elapsed: started.elapsed(),
                entry: None,
            },
        ));
    };
    let entry = entry_path(dir, engine, bytes);
    if let Some(component) = read_entry(engine, &entry) {
        return Ok((
            component,
            LoadReport {
                outcome: CacheOutcome::Hit,
                elapsed: started.elapsed(),
                entry: Some(entry),
            },
        ));
    }
    let component = Component::new(engine, bytes)?;
    // A cache that cannot be written costs only speed.
    let stored = component
        .serialize()
        .ok()
        .and_then(|artifact| write_entry(&entry, &artifact).ok());
    let outcome = if stored.is_some() {
        CacheOutcome::Stored
    } else {
        CacheOutcome::Compiled
    };
    Ok((
        component,
        LoadReport {
            outcome,
            elapsed: started.elapsed(),
            entry: stored.map(|_| entry),
        },
    ))
}

/// A verified entry, or `None`.
fn read_entry(engine: &Engine, path: &Path) -> Option<Component> {
    if !private(path) {
        return None;
    }
    let data = std::fs::read(path).ok()?;
    if data.len() <= CHECKSUM_LEN {
        return None;
    }
    let (checksum, artifact) = data.split_at(CHECKSUM_LEN);
    if blake3::hash(artifact).as_bytes() != checksum {
        return None;
    }
    // SAFETY: the file is the user's own and writable by no one else (`private`), so it was
    // written by `write_entry`: `Component::serialize` output for an engine with the same
    // compatibility hash (the file name), intact per its checksum; wasmtime also checks its
    // own header (version, settings) before using it.
    unsafe { Component::deserialize(engine, artifact) }.ok()
}

fn write_entry(path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("cache entry has no directory"))?;
    create_private_dir(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        std::process::id(),
        blake3::hash(artifact).to_hex()
    ));
    let mut data = Vec::with_capacity(CHECKSUM_LEN + artifact.len());
    data.extend_from_slice(blake3::hash(artifact).as_bytes());
    data.extend_from_slice(artifact);
    write_private(&tmp, &data)?;
    // Atomic: readers see the old entry or the whole new one, never a half-written file.
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// A regular file owned by this user in a directory owned by this user, neither writable by
/// group or others.
#[cfg(unix)]
fn private(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: `geteuid` has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let owned = |m: &std::fs::Metadata| m.uid() == me && m.mode() & 0o022 == 0;
    let file = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && owned(&m));
    file && path
        .parent()
        .and_then(|d| std::fs::metadata(d).ok())
        .is_some_and(|m| owned(&m))
}

#[cfg(not(unix))]
fn private(_: &Path) -> bool {
    true
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(data)
}
