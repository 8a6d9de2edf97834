//! The component the CLI runs: the one built into the binary, or `--component FILE`. A file
//! that is not a component gets a one-line answer saying so, not the compiler's diagnostics.

use llm_core_host::types::{Error, ErrorCode};
use llm_core_host::{HostOptions, LlmCore};
use std::path::Path;

/// Loads the embedded component, or the one in `file`.
pub fn load(file: Option<&Path>) -> Result<LlmCore, Error> {
    let Some(path) = file else {
        return LlmCore::new(HostOptions::default());
    };
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| {
        Error::new(
            ErrorCode::InvalidConfig,
            format!("--component {shown}: cannot read it: {e}"),
        )
    })?;
    if let Err(why) = looks_like_a_component(&bytes) {
        return Err(Error::new(
            ErrorCode::InvalidConfig,
            format!("--component {shown}: {why}"),
        ));
    }
    LlmCore::from_bytes(&bytes, HostOptions::default()).map_err(|e| Error {
        message: format!("--component {shown}: {}", first_line(&e.message, 300)),
        ..e
    })
}

/// The binary header: `\0asm`, then the version and layer of a component (a core module
/// has layer 0).
fn looks_like_a_component(bytes: &[u8]) -> Result<(), &'static str> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err("not a WebAssembly file (it does not start with `\\0asm`)");
    }
    if bytes[6..8] == [0, 0] {
        return Err(
            "a core WebAssembly module, not a component (build the crate for wasm32-wasip2)",
        );
    }
    Ok(())
}

/// The first line of a message, at most `max` characters.
fn first_line(message: &str, max: usize) -> String {
    let line = message.lines().next().unwrap_or_default();
    match line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_told_apart() {
        assert!(looks_like_a_component(b"junk").is_err());
        assert!(looks_like_a_component(b"\x7fELF\x02\x01\x01\x00").is_err());
        let core = looks_like_a_component(b"\0asm\x01\x00\x00\x00").unwrap_err();
        assert!(core.contains("core WebAssembly module"), "{core}");
        assert!(looks_like_a_component(b"\0asm\x0d\x00\x01\x00").is_ok());
        assert_eq!(first_line("a\nb", 10), "a");
        assert_eq!(first_line("abcdef", 3), "abc…");
    }
}
