//! A complete answer as text: the content on stdout, reasoning dimmed on stderr, tool calls
//! one per line, and a note when the answer stopped at `--max-tokens`.

use crate::terminal::{self, Failure, Stdout, dim, for_stderr};
use llm_core_host::types::*;

pub fn print_call(out: &mut Stdout, c: &ToolCall) -> Result<(), Failure> {
    out.ours(&format!("[tool call {}] ", c.id))?;
    out.server_text(&format!("{}({})", c.name, c.arguments))?;
    out.ours("\n")
}

pub fn print_invalid_call(out: &mut Stdout, c: &InvalidToolCall) -> Result<(), Failure> {
    out.ours(&format!("[invalid tool call {}] ", c.id))?;
    out.server_text(&format!("{}: {} — {}", c.name, c.raw_arguments, c.error))?;
    out.ours("\n")
}

pub fn print_response(out: &mut Stdout, r: &ChatResponse) -> Result<(), Failure> {
    if let Some(reasoning) = &r.reasoning {
        terminal::note(&dim(&format!("[reasoning] {}", for_stderr(reasoning))));
    }
    if let Some(content) = &r.content {
        out.server_text(content)?;
        out.ours("\n")?;
    }
    for c in &r.tool_calls {
        print_call(out, c)?;
    }
    for c in &r.invalid_tool_calls {
        print_invalid_call(out, c)?;
    }
    Ok(())
}

/// Says when the answer stopped at `--max-tokens` (the CLI's default may be the cause).
pub fn length_note(r: &ChatResponse, max_tokens: u32) {
    if r.finish_reason == Some(FinishReason::Length) && max_tokens > 0 {
        terminal::note(&dim(&format!(
            "note: the answer stopped at --max-tokens {max_tokens}; pass a larger --max-tokens (0 = the server's limit) for more"
        )));
    }
}
