//! Everything the CLI writes. Standard output may be closed early by its reader
//! (`llm-core chat ... | head -c1`): the write error comes back as a value, never a panic, and
//! the run ends quietly. Text that came from a server is shown on a terminal with its control
//! characters escaped, so an answer cannot move the cursor, retitle the window or hide text;
//! written to a file or a pipe it stays exact (and `--json` output is JSON, escaped by
//! construction). Notes on stderr never fail the run.

use llm_core_host::types::Error;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};

/// Why a run stopped early: a failed call, or standard output that cannot be written.
#[derive(Debug)]
pub enum Failure {
    /// The call (or the CLI's own check) failed; reported on stderr, or as JSON.
    Call(Error),
    /// A stream failed after its partial answer was printed (not shown again).
    Streamed(Error),
    /// Standard output failed; a closed pipe (`BrokenPipe`) ends the run quietly.
    Stdout(io::Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Call(e)
    }
}

/// Standard output.
pub struct Stdout {
    terminal: bool,
}

impl Stdout {
    pub fn new() -> Stdout {
        Stdout {
            terminal: io::stdout().is_terminal(),
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// Text a server sent (answers, tool names and arguments): escaped on a terminal.
    pub fn server_text(&mut self, text: &str) -> Result<(), Failure> {
        if self.terminal {
            self.ours(&escape_controls(text))
        } else {
            self.ours(text)
        }
    }

    /// The CLI's own text (JSON lines, labels, our colour codes), as is.
    pub fn ours(&mut self, text: &str) -> Result<(), Failure> {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(Failure::Stdout)
    }

    /// One line of our own text.
    pub fn line(&mut self, text: &str) -> Result<(), Failure> {
        self.ours(&format!("{text}\n"))
    }
}

/// Whether stderr is a terminal (colour, escaping, a progress line that updates in place).
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// One line on stderr; a failing stderr is ignored (there is nowhere left to say it).
pub fn note(text: &str) {
    let _ = writeln!(io::stderr(), "{text}");
}

/// Text on stderr without a newline (the progress line), ignoring failures.
pub fn note_raw(text: &str) {
    let mut err = io::stderr();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// Server text bound for stderr: escaped when stderr is a terminal.
pub fn for_stderr(text: &str) -> Cow<'_, str> {
    if stderr_is_terminal() {
        escape_controls(text)
    } else {
        Cow::Borrowed(text)
    }
}

/// Dimmed on a terminal stderr (reasoning, summaries).
pub fn dim(text: &str) -> String {
    if stderr_is_terminal() {
        format!("\x1b[2m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// C0 and C1 control characters and DEL, except newline and tab, written as visible escapes
/// (`\x1b`, `\u{9b}`): nothing a server sends can drive the terminal.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !unsafe_char(c) {
            out.push(c);
        } else if u32::from(c) < 0x80 {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_but_lines_and_tabs_stay() {
        assert_eq!(escape_controls("plain\ttext\n"), "plain\ttext\n");
        assert!(matches!(escape_controls("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape_controls("a\x1b]0;pwned\x07b\x1b[2Jc\rd\u{9b}31me\u{7f}"),
            "a\\x1b]0;pwned\\x07b\\x1b[2Jc\\x0dd\\u{9b}31me\\x7f"
        );
        assert_eq!(escape_controls("héllo ✓"), "héllo ✓");
    }
}
