//! The fuzz targets as stable tests: each runs over the committed seeds (`fuzz/seeds/`), the
//! recorded server answers in `tests/fixtures/`, and a few thousand inputs from a fixed-seed
//! generator, so a broken invariant fails `cargo test` without nightly or libFuzzer.

use super::TARGETS;
use crate::routing::rng::Rng as Xorshift;
use std::path::Path;

/// Inputs per target from the generator; `FUZZ_SMOKE_RUNS` raises it for a longer run.
fn runs() -> usize {
    std::env::var("FUZZ_SMOKE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// The routing generator (xorshift64*), seeded per target: the same inputs on every machine.
struct Rng(Xorshift);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn input(&mut self) -> Vec<u8> {
        let len = (self.next() % 512) as usize;
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn files(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn run_target(name: &str, f: super::Target) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut inputs = files(&root.join("fuzz/seeds").join(name));
    inputs.extend(files(&root.join("tests/fixtures")));
    let mut rng = Rng(Xorshift::new(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64));
    inputs.extend((0..runs()).map(|_| rng.input()));
    for input in &inputs {
        // Also with a leading 0xff: the targets' "raw bytes" mode.
        let mut raw = vec![0xff];
        raw.extend_from_slice(input);
        for data in [input.as_slice(), raw.as_slice()] {
            let outcome = std::panic::catch_unwind(|| f(data));
            assert!(
                outcome.is_ok(),
                "{name} failed on input {:?}",
                String::from_utf8_lossy(data)
            );
        }
    }
}

macro_rules! targets {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {
            run_target(stringify!($name), super::target(stringify!($name)).unwrap());
        }
    )*};
}

targets!(
    sse_stream,
    completion,
    error_body,
    tool_args,
    text_tools,
    reasoning,
    metrics,
    regex,
    json_schema,
    config,
    base_url,
    retry_after,
    redaction
);

#[test]
fn every_target_is_tested_and_has_a_fuzz_binary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let this = include_str!("tests.rs");
    for (name, _) in TARGETS {
        assert!(this.contains(&format!(" {name},")) || this.contains(&format!("{name}\n")));
        let bin = root.join("fuzz/fuzz_targets").join(format!("{name}.rs"));
        assert!(bin.exists(), "no {}", bin.display());
    }
}
