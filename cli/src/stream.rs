//! A streamed answer: tokens printed as they arrive (or one JSON line per event), a summary
//! line on stderr, and Ctrl-C, which suspends the stream to a checkpoint — written to
//! `--checkpoint FILE`, or as the last JSON line — and ends the run with status 130.
//!
//! The host's stream can be suspended only between two events (`ChatStream::suspend` needs
//! no read in flight, and a read in the component cannot be abandoned halfway), so a Ctrl-C
//! that comes while the next event is on its way lets that event arrive and be printed
//! first: the checkpoint then holds exactly what was shown. A second Ctrl-C meanwhile ends
//! the run at once, without a checkpoint.

use crate::answer::{length_note, print_call, print_invalid_call};
use crate::checkpoint;
use crate::interrupt::Interrupts;
use crate::json;
use crate::request::usage;
use crate::terminal::{self, Failure, Stdout, dim, for_stderr};
use futures::StreamExt;
use llm_core_host::ChatStream;
use llm_core_host::types::*;
use std::cell::Cell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Exit status of a run that Ctrl-C ended (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;

/// How a stream is shown and where a suspension goes.
pub struct StreamOpts {
    pub json_lines: bool,
    pub quiet: bool,
    /// `max-tokens` of the request (0: none), for the note when the answer stops there.
    pub max_tokens: u32,
    /// `--checkpoint FILE`.
    pub checkpoint: Option<PathBuf>,
}

impl StreamOpts {
    /// Ctrl-C suspends when the checkpoint has somewhere to go.
    fn suspendable(&self) -> bool {
        self.checkpoint.is_some() || self.json_lines
    }
}

/// What the next poll gave: an item of the stream, or Ctrl-C (with whether a read was left
/// in flight, which must finish before the stream can be suspended). Moved once per event,
/// like the stream's own items, so not boxed.
#[allow(clippy::large_enum_variant)]
enum Next {
    Item(Option<Result<StreamEvent, Error>>),
    Interrupted { in_flight: bool },
}

/// The next item, or Ctrl-C if it comes first.
async fn next(stream: &mut ChatStream, interrupts: Option<&mut Interrupts>) -> Next {
    let Some(interrupts) = interrupts else {
        return Next::Item(stream.next().await);
    };
    let in_flight = Cell::new(false);
    let item = futures::future::poll_fn(|cx| {
        let polled = stream.poll_next_unpin(cx);
        in_flight.set(polled.is_pending());
        polled
    });
    tokio::select! {
        biased;
        () = interrupts.recv() => Next::Interrupted { in_flight: in_flight.get() },
        item = item => Next::Item(item),
    }
}

/// Prints `stream` (asked for at `asked`) to the end, or until Ctrl-C suspends it.
pub async fn print(
    mut stream: ChatStream,
    asked: Instant,
    opts: &StreamOpts,
    out: &mut Stdout,
) -> Result<ExitCode, Failure> {
    let mut printer = Printer {
        started: asked,
        first_token: None,
        in_reasoning: false,
        color: out.is_terminal(),
    };
    let mut interrupts = match opts.suspendable().then(Interrupts::listen) {
        Some(Ok(i)) => Some(i),
        Some(Err(e)) => {
            terminal::note(&format!("note: Ctrl-C cannot suspend this stream: {e}"));
            None
        }
        None => None,
    };
    loop {
        match next(&mut stream, interrupts.as_mut()).await {
            Next::Item(None) => return Ok(ExitCode::SUCCESS),
            Next::Item(Some(item)) => printer.item(item, opts, out)?,
            Next::Interrupted { in_flight } => {
                if in_flight {
                    if !opts.quiet {
                        terminal::note(&dim(
                            "suspending after the next token… (Ctrl-C again: quit without a checkpoint)",
                        ));
                    }
                    match next(&mut stream, interrupts.as_mut()).await {
                        Next::Interrupted { .. } => return Ok(ExitCode::from(INTERRUPTED)),
                        Next::Item(None) => return Ok(ExitCode::SUCCESS),
                        Next::Item(Some(item)) => {
                            let done = matches!(item, Ok(StreamEvent::Done(_)));
                            printer.item(item, opts, out)?;
                            if done {
                                if !opts.quiet {
                                    terminal::note(&dim(
                                        "the answer was complete before it could be suspended",
                                    ));
                                }
                                return Ok(ExitCode::SUCCESS);
                            }
                        }
                    }
                }
                return suspend(stream, opts, &printer, out).await;
            }
        }
    }
}

/// Suspends the stream and puts the checkpoint where it was asked for.
async fn suspend(
    stream: ChatStream,
    opts: &StreamOpts,
    printer: &Printer,
    out: &mut Stdout,
) -> Result<ExitCode, Failure> {
    let checkpoint = stream.suspend().await.map_err(Failure::Streamed)?;
    if !opts.json_lines {
        if printer.in_reasoning && printer.color {
            out.ours("\x1b[0m")?;
        }
        out.ours("\n")?;
    }
    let shown = match &opts.checkpoint {
        Some(path) => {
            if let Err(e) = checkpoint::write(path, &checkpoint) {
                // The generation is stopped already: the checkpoint must not be lost with it.
                terminal::note(&format!(
                    "the checkpoint, to save to a file for --resume:\n{}",
                    checkpoint::to_json(&checkpoint)
                ));
                return Err(usage(format!(
                    "--checkpoint {}: cannot write it: {e} (the checkpoint is above, on stderr)",
                    path.display()
                ))
                .into());
            }
            let shown = path.display().to_string();
            format!("checkpoint written to {shown}; continue with: llm-core chat --resume {shown}")
        }
        None => {
            out.line(&checkpoint::to_json(&checkpoint))?;
            "checkpoint printed as the last line; save it to a file and continue with: llm-core chat --resume FILE".into()
        }
    };
    if !opts.quiet {
        let g = &checkpoint.generated;
        terminal::note(&format!(
            "suspended after {} characters of answer and {} of reasoning; {}",
            g.content.chars().count(),
            g.reasoning.chars().count(),
            for_stderr(&shown)
        ));
    }
    Ok(ExitCode::from(INTERRUPTED))
}

/// What has been printed so far, and the timings for the summary.
struct Printer {
    /// When the stream was asked for.
    started: Instant,
    first_token: Option<Duration>,
    in_reasoning: bool,
    color: bool,
}

impl Printer {
    fn item(
        &mut self,
        item: Result<StreamEvent, Error>,
        opts: &StreamOpts,
        out: &mut Stdout,
    ) -> Result<(), Failure> {
        let event = match item {
            Ok(e) => e,
            Err(e) => {
                if !opts.json_lines {
                    out.ours("\n")?;
                }
                return Err(Failure::Streamed(e));
            }
        };
        if opts.json_lines {
            return out.line(&json::event(&event).to_string());
        }
        match &event {
            StreamEvent::Content(text) => {
                self.first_token
                    .get_or_insert_with(|| self.started.elapsed());
                if self.in_reasoning {
                    out.ours(if self.color {
                        "\x1b[0m\n"
                    } else {
                        "\n[answer] "
                    })?;
                    self.in_reasoning = false;
                }
                out.server_text(text)?;
            }
            StreamEvent::Reasoning(text) => {
                self.first_token
                    .get_or_insert_with(|| self.started.elapsed());
                if !self.in_reasoning {
                    out.ours(if self.color {
                        "\x1b[2m"
                    } else {
                        "[reasoning] "
                    })?;
                    self.in_reasoning = true;
                }
                out.server_text(text)?;
            }
            StreamEvent::ToolCall(_) => {
                self.first_token
                    .get_or_insert_with(|| self.started.elapsed());
            }
            StreamEvent::Logprobs(_) => {}
            StreamEvent::Done(r) => {
                if self.in_reasoning && self.color {
                    out.ours("\x1b[0m")?;
                }
                out.ours("\n")?;
                for c in &r.tool_calls {
                    print_call(out, c)?;
                }
                for c in &r.invalid_tool_calls {
                    print_invalid_call(out, c)?;
                }
                if !opts.quiet {
                    self.summary(r);
                    length_note(r, opts.max_tokens);
                }
            }
        }
        Ok(())
    }

    /// One line on stderr: time to first token, tokens/s, usage, finish reason.
    fn summary(&self, r: &ChatResponse) {
        let total = self.started.elapsed();
        let ttft = self
            .first_token
            .map(|d| format!("{:.0} ms to first token", d.as_secs_f64() * 1000.0))
            .unwrap_or_else(|| "no tokens".into());
        let (usage, rate) = match &r.usage {
            Some(u) => {
                let gen_time = self
                    .first_token
                    .map_or(total, |f| total.saturating_sub(f))
                    .as_secs_f64();
                let rate = if gen_time > 0.0 && u.completion_tokens > 1 {
                    format!(
                        "{:.1} tokens/s",
                        f64::from(u.completion_tokens - 1) / gen_time
                    )
                } else {
                    "- tokens/s".into()
                };
                let cached = u
                    .cached_tokens
                    .map(|c| format!(" ({c} cached)"))
                    .unwrap_or_default();
                (
                    format!(
                        "{} prompt{cached} + {} completion tokens",
                        u.prompt_tokens, u.completion_tokens
                    ),
                    rate,
                )
            }
            None => ("usage not reported".into(), "- tokens/s".into()),
        };
        let finish = r
            .finish_reason
            .as_ref()
            .map(json::finish_reason)
            .unwrap_or_else(|| "-".into());
        terminal::note(&dim(&format!(
            "— {ttft}, {rate}, {usage}, finish: {}, backend {} ({:.1} s)",
            for_stderr(&finish),
            for_stderr(&r.backend),
            total.as_secs_f64()
        )));
    }
}
