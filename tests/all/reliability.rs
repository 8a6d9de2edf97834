//! RELIABILITY.md cannot drift from the tests: every test its tables name exists, every
//! fault test is named there, the fault matrix has at least 40 rows, and the fuzz table lists
//! exactly the targets in fuzz/fuzz_targets/.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The table rows (cells, trimmed) of the section under `heading` (up to the next `## `).
fn rows(page: &str, heading: &str) -> Vec<Vec<String>> {
    let section = page
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("no section {heading:?} in RELIABILITY.md"));
    section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("|---"))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect::<Vec<_>>()
        })
        .filter(|cells| cells[0] != "fault" && cells[0] != "target" && cells[0] != "bug")
        .collect()
}

/// Test functions (`#[test]` or `#[tokio::test…]`) defined in `source`.
fn tests_in(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut marked = false;
    for line in source.lines().map(str::trim) {
        if line.starts_with("#[test]") || line.starts_with("#[tokio::test") {
            marked = true;
        } else if marked
            && let Some(rest) = line.strip_prefix("async fn ").or(line.strip_prefix("fn "))
        {
            out.push(rest.split('(').next().unwrap_or_default().to_string());
            marked = false;
        }
    }
    out
}

/// Whether the test a table names (`module::function` in tests/all, or
/// `src/file.rs::function`) is defined there.
fn exists(name: &str) -> bool {
    let Some((file, function)) = name.rsplit_once("::") else {
        return false;
    };
    let path = if file.starts_with("src/") {
        root().join(file)
    } else {
        root().join("tests/all").join(format!("{file}.rs"))
    };
    path.exists() && tests_in(&read(&path)).iter().any(|t| t == function)
}

/// Modules whose every test is a fault test, and words that mark one elsewhere.
const FAULT_MODULES: &[&str] = &["hostile", "limits", "cache", "tls", "chaos", "soak"];
const FAULT_MODULES_IN_PART: &[&str] = &["streaming", "chat", "routing", "control", "tools"];
const FAULT_WORDS: &[&str] = &[
    "cut",
    "timeout",
    "deadline",
    "error",
    "malformed",
    "truncated",
    "silence",
    "killed",
    "unreachable",
    "denied",
    "endless",
    "retried",
    "retry",
    "invalid",
    "refuses",
    "without",
];

#[test]
fn the_fault_matrix_names_real_tests_and_every_fault_test() {
    let page = read(&root().join("RELIABILITY.md"));
    let matrix = rows(&page, "Fault matrix");
    assert!(
        matrix.len() >= 40,
        "the fault matrix has {} rows",
        matrix.len()
    );
    let found = rows(&page, "Fuzzing").into_iter().filter(|r| r.len() == 4);
    let mut named = BTreeSet::new();
    for row in matrix.into_iter().chain(found) {
        let test = row.last().unwrap().clone();
        assert!(
            exists(&test),
            "RELIABILITY.md names {test:?}, which is not a test"
        );
        named.insert(test);
    }
    let dir = root().join("tests/all");
    for module in FAULT_MODULES.iter().chain(FAULT_MODULES_IN_PART) {
        let path = dir.join(format!("{module}.rs"));
        if !path.exists() {
            continue;
        }
        for test in tests_in(&read(&path)) {
            let is_fault = FAULT_MODULES.contains(module)
                || FAULT_WORDS
                    .iter()
                    .any(|w| test.split('_').any(|part| part == *w));
            let name = format!("{module}::{test}");
            assert!(
                !is_fault || named.contains(&name),
                "fault test {name} is not in RELIABILITY.md's fault matrix"
            );
        }
    }
}

#[test]
fn the_fuzz_table_lists_every_target() {
    let page = read(&root().join("RELIABILITY.md"));
    let listed: BTreeSet<String> = rows(&page, "Fuzzing")
        .into_iter()
        .filter(|r| r.len() == 5)
        .map(|r| r[0].clone())
        .collect();
    let targets: BTreeSet<String> = std::fs::read_dir(root().join("fuzz/fuzz_targets"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    assert_eq!(
        listed, targets,
        "RELIABILITY.md's fuzz table against fuzz/fuzz_targets/"
    );
}
