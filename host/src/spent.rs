//! What wasmtime-wasi-http leaves behind in an instance's resource table after a call.
//!
//! wasmtime-wasi-http 48's `outgoing-handler.handle` takes the guest's
//! `own<request-options>`, copies the timeouts out of it and never deletes it, so every
//! request left one entry in the table: about 120 bytes per call for as long as the instance
//! lives, and an instance would fail every call once its table held wasmtime's maximum of a
//! million entries (found by the soak, tests/all/soak.rs). The guest cannot name an options
//! resource once it has passed it on, so the host deletes them when a call is over.
//! wasmtime's main branch now deletes them in `handle` itself; with a wasmtime that does,
//! this finds nothing to drop (and costs a scan of the few entries left after a call).

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi_http::RequestOptions;

/// Deletes every `request-options` entry in `table` (all of them spent once no call runs).
pub(crate) fn drop_request_options(table: &mut ResourceTable) {
    let mut left = table.iter_mut().count();
    let mut key = 0u32;
    while left > 0 && key < u32::MAX {
        if let Ok(entry) = table.get_any_mut(key) {
            left -= 1;
            if entry.is::<RequestOptions>() {
                let _ = table.delete(Resource::<RequestOptions>::new_own(key));
            }
        }
        key += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_request_options_are_dropped() {
        let mut table = ResourceTable::new();
        let kept: Resource<String> = table.push("a body".to_string()).unwrap();
        for _ in 0..3 {
            table.push(RequestOptions::default()).unwrap();
        }
        let also_kept: Resource<u32> = table.push(7u32).unwrap();
        drop_request_options(&mut table);
        assert_eq!(table.iter_mut().count(), 2);
        assert_eq!(table.get(&kept).unwrap(), "a body");
        assert_eq!(*table.get(&also_kept).unwrap(), 7);
        // Nothing left to drop: a no-op.
        drop_request_options(&mut table);
        assert_eq!(table.iter_mut().count(), 2);
    }
}
