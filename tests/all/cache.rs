//! The compiled-component cache runs only what this user's host wrote: a symlinked entry, an
//! entry forged without the cache's key, or a key that is not private are never loaded (the
//! component is compiled instead).

use llm_core_host::CacheOutcome;
use llm_core_host::{HostOptions, LlmCore};
use std::path::{Path, PathBuf};

/// A fresh private cache directory.
fn cache_dir(tag: &str) -> PathBuf {
    use std::hash::{BuildHasher, Hasher};
    let n = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let dir = std::env::temp_dir().join(format!("llm-core-{tag}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    dir
}

fn load(dir: &Path) -> LlmCore {
    LlmCore::new(HostOptions {
        compiled_cache: Some(dir.to_path_buf()),
        ..HostOptions::default()
    })
    .unwrap()
}

#[cfg(unix)]
#[test]
fn a_symlinked_entry_is_not_loaded() {
    let dir = cache_dir("symlink");
    let first = load(&dir);
    assert_eq!(first.load_report().outcome, CacheOutcome::Stored);
    let entry = first.load_report().entry.clone().unwrap();
    assert_eq!(load(&dir).load_report().outcome, CacheOutcome::Hit);

    // The very same (valid) bytes, reached through a symlink: not followed.
    let elsewhere = dir.join("elsewhere.cwasm");
    std::fs::rename(&entry, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
    assert_eq!(load(&dir).load_report().outcome, CacheOutcome::Stored);
    // The rebuilt entry replaced the link with a file of its own.
    assert!(std::fs::symlink_metadata(&entry).unwrap().is_file());
    assert_eq!(load(&dir).load_report().outcome, CacheOutcome::Hit);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn an_entry_forged_without_the_key_is_not_loaded() {
    let dir = cache_dir("forged");
    let first = load(&dir);
    let entry = first.load_report().entry.clone().unwrap();
    let bytes = std::fs::read(&entry).unwrap();
    let (_, artifact) = bytes.split_at(32);

    // A changed artifact with a correct plain checksum (what anyone could compute): refused.
    let mut changed = artifact.to_vec();
    let at = changed.len() / 2;
    changed[at] ^= 0x55;
    let mut forged = blake3::hash(&changed).as_bytes().to_vec();
    forged.extend_from_slice(&changed);
    std::fs::write(&entry, &forged).unwrap();
    assert_eq!(load(&dir).load_report().outcome, CacheOutcome::Stored);

    // The original artifact under a MAC with another key: refused too.
    let mut other_key = blake3::keyed_hash(&[7u8; 32], artifact).as_bytes().to_vec();
    other_key.extend_from_slice(artifact);
    std::fs::write(&entry, &other_key).unwrap();
    assert_eq!(load(&dir).load_report().outcome, CacheOutcome::Stored);
    assert_eq!(load(&dir).load_report().outcome, CacheOutcome::Hit);

    // A new key (the old one lost): every old entry is rebuilt, none trusted.
    std::fs::remove_file(dir.join(".key")).unwrap();
    assert_eq!(load(&dir).load_report().outcome, CacheOutcome::Stored);
    assert_eq!(load(&dir).load_report().outcome, CacheOutcome::Hit);
    std::fs::remove_dir_all(dir).ok();
}

#[cfg(unix)]
#[test]
fn a_cache_that_is_not_private_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let dir = cache_dir("open");
    assert_eq!(load(&dir).load_report().outcome, CacheOutcome::Stored);

    // A key others could have written: the cache is not used at all.
    let key = dir.join(".key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(load(&dir).load_report().outcome, CacheOutcome::Compiled);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(load(&dir).load_report().outcome, CacheOutcome::Hit);

    // A symlinked key: not followed.
    let moved = dir.join("key-elsewhere");
    std::fs::rename(&key, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &key).unwrap();
    assert_eq!(load(&dir).load_report().outcome, CacheOutcome::Compiled);
    std::fs::remove_file(&key).unwrap();
    std::fs::rename(&moved, &key).unwrap();

    // A directory others may write to: not used.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_eq!(load(&dir).load_report().outcome, CacheOutcome::Compiled);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(load(&dir).load_report().outcome, CacheOutcome::Hit);
    std::fs::remove_dir_all(dir).ok();
}
