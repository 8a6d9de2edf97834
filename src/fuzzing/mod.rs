//! Fuzz targets over every parser and decoder that sees server bytes or caller input, with
//! the invariants each must keep (not only "no panic"). Compiled for the crate's own tests
//! and behind the `fuzzing` feature for `fuzz/` (cargo-fuzz, libFuzzer); never part of the
//! public API or the component.
//!
//! The same functions run three ways: under libFuzzer (`scripts/fuzz`), as ordinary stable
//! `#[test]`s over the seed corpus plus fixed-seed random inputs (`tests.rs`, so CI catches
//! regressions without nightly), and as regression tests for inputs the fuzzer found.

pub mod checks;
pub mod decoders;
pub mod input;
pub mod stream;

/// A fuzz target: takes any bytes, panics when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target by the name its `fuzz/fuzz_targets/<name>.rs` and corpus directory use.
pub const TARGETS: &[(&str, Target)] = &[
    ("sse_stream", stream::run),
    ("completion", decoders::completion),
    ("error_body", decoders::error_body),
    ("tool_args", decoders::tool_args),
    ("text_tools", decoders::text_tools),
    ("reasoning", decoders::reasoning),
    ("metrics", decoders::metrics),
    ("regex", checks::regex),
    ("json_schema", checks::json_schema),
    ("config", checks::config),
    ("base_url", checks::base_url),
    ("retry_after", checks::retry_after),
    ("redaction", checks::redaction),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

#[cfg(test)]
mod tests;
