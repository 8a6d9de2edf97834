//! libFuzzer entry for the `base_url` target; the target and its invariants are in the root
//! crate's `src/fuzzing/`, shared with the stable tests.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    aios_llm_core::fuzzing::target("base_url").unwrap()(data)
});
