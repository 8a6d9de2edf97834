//! A disk cache of compiled components, so a process starts in milliseconds instead of
//! compiling with Cranelift. An entry is named by the component's BLAKE3 hash and the
//! engine's precompile-compatibility hash (wasmtime version and every setting that affects
//! code). A compiled artifact is native code the host will run, so an entry is trusted only
//! when all of this holds (else it is ignored and rebuilt, costing only start-up time):
//!
//! - it carries a keyed BLAKE3 MAC of its contents under a random 32-byte key kept in the
//!   cache directory (`.key`, owner-only): a writer that does not know the key cannot forge
//!   an entry, and damage is caught too;
//! - on Unix, it is opened without following symlinks (`O_NOFOLLOW`), and the opened file
//!   (not the path, checked again later) is a regular file owned by this user and writable
//!   by no one else; the cache directory is the user's own and private, and every directory
//!   above it is owned by the user or root and writable by no one else unless sticky (as
//!   `/tmp` is);
//! - the bytes checked are the bytes deserialized: the file is read once into memory,
//!   verified, and handed to wasmtime from there.
//!
//! The key file passes the same checks; a cache whose key cannot be trusted is not used.

use std::io::Read;

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
    /// Compiled, stored, or loaded from the cache.
    pub outcome: CacheOutcome,
    /// Time spent compiling or loading (zero for `LlmCore::with_options`, which reuses it).
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

/// Length of the MAC in front of each entry.
const MAC_LEN: usize = 32;

/// Name of the key file in the cache directory.
const KEY_FILE: &str = ".key";

/// Compiles `bytes`, or loads them from the cache in `dir`.
pub fn load_or_compile(
    engine: &Engine,
    bytes: &[u8],
    dir: Option<&Path>,
) -> wasmtime::Result<(Component, LoadReport)> {
    let started = Instant::now();
    let compiled = |outcome, entry| -> wasmtime::Result<(Component, LoadReport)> {
        let component = Component::new(engine, bytes)?;
        Ok((
            component,
            LoadReport {
                outcome,
                elapsed: started.elapsed(),
                entry,
            },
        ))
    };
    let Some(dir) = dir else {
        return compiled(CacheOutcome::Compiled, None);
    };
    // A cache that cannot be made private, or whose key cannot be trusted, costs only speed.
    let Some(key) = cache_key(dir) else {
        return compiled(CacheOutcome::Compiled, None);
    };
    let entry = entry_path(dir, engine, bytes);
    if let Some(component) = read_entry(engine, &entry, &key) {
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
    let stored = component
        .serialize()
        .ok()
        .and_then(|artifact| write_entry(&entry, &artifact, &key).ok());
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

/// The MAC key of the cache in `dir`, created on first use; `None` when the directory or
/// the key file is not private to this user.
fn cache_key(dir: &Path) -> Option<[u8; 32]> {
    create_private_dir(dir).ok()?;
    if !private_dir_chain(dir) {
        return None;
    }
    let path = dir.join(KEY_FILE);
    if let Some(data) = read_private(&path) {
        return data.try_into().ok();
    }
    let key = random_key()?;
    // Two processes may race to create it: the loser reads the winner's key.
    match write_private(&path, &key) {
        Ok(()) => Some(key),
        Err(_) => read_private(&path)?.try_into().ok(),
    }
}

/// A verified entry, or `None`.
fn read_entry(engine: &Engine, path: &Path, key: &[u8; 32]) -> Option<Component> {
    let data = read_private(path)?;
    if data.len() <= MAC_LEN {
        return None;
    }
    let (mac, artifact) = data.split_at(MAC_LEN);
    let mac: [u8; MAC_LEN] = mac.try_into().ok()?;
    // `blake3::Hash` compares in constant time.
    if blake3::keyed_hash(key, artifact) != blake3::Hash::from(mac) {
        return None;
    }
    // SAFETY: these bytes, held in memory since they were checked, carry a MAC under the
    // cache's private key, so they were written by `write_entry`: `Component::serialize`
    // output for an engine with the same compatibility hash (the file name), intact.
    // wasmtime also checks its own header (version, settings) before using them.
    unsafe { Component::deserialize(engine, artifact) }.ok()
}

fn write_entry(path: &Path, artifact: &[u8], key: &[u8; 32]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("cache entry has no directory"))?;
    let mac = blake3::keyed_hash(key, artifact);
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        std::process::id(),
        &mac.to_hex()[..16]
    ));
    let mut data = Vec::with_capacity(MAC_LEN + artifact.len());
    data.extend_from_slice(mac.as_bytes());
    data.extend_from_slice(artifact);
    write_private(&tmp, &data)?;
    // Atomic: readers see the old entry or the whole new one, never a half-written file
    // (and a symlink planted at the path is replaced, not followed).
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The whole contents of a file that is private to this user (see the module docs), read
/// from the one handle that was checked; `None` otherwise.
fn read_private(path: &Path) -> Option<Vec<u8>> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let mut file = options.open(path).ok()?;
    if !private_file(&file.metadata().ok()?) {
        return None;
    }
    let mut data = Vec::new();
    file.read_to_end(&mut data).ok()?;
    Some(data)
}

/// Creates a file that did not exist (never through a symlink), owner-only, with `data`.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let mut file = options.open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

/// 32 bytes from the operating system's random source.
#[cfg(unix)]
fn random_key() -> Option<[u8; 32]> {
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .ok()?
        .read_exact(&mut key)
        .ok()?;
    Some(key)
}

#[cfg(not(unix))]
fn random_key() -> Option<[u8; 32]> {
    None
}

/// A regular file owned by this user, writable by no one else.
#[cfg(unix)]
fn private_file(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    m.is_file() && m.uid() == euid() && m.mode() & 0o022 == 0
}

#[cfg(not(unix))]
fn private_file(m: &std::fs::Metadata) -> bool {
    m.is_file()
}

#[cfg(unix)]
fn euid() -> u32 {
    // SAFETY: `geteuid` has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The cache directory is this user's own and writable by no one else; every directory
/// above it is owned by this user or root and writable by no one else, unless sticky.
#[cfg(unix)]
fn private_dir_chain(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return false;
    };
    let me = euid();
    let own = std::fs::symlink_metadata(&dir)
        .is_ok_and(|m| m.is_dir() && m.uid() == me && m.mode() & 0o022 == 0);
    own && dir.ancestors().skip(1).all(|a| {
        std::fs::symlink_metadata(a).is_ok_and(|m| {
            m.is_dir()
                && (m.uid() == me || m.uid() == 0)
                && (m.mode() & 0o022 == 0 || m.mode() & 0o1000 != 0)
        })
    })
}

#[cfg(not(unix))]
fn private_dir_chain(_: &Path) -> bool {
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
