//! The `chat` command: one call, printed as text, as a stream of tokens, or as JSON. With
//! `--tool-choice required` or a tool's name it is AIOS's `llm_chat_with_tool_call_output`:
//! an answer without a valid call fails with `invalid-output`.

use crate::args::ChatArgs;
use crate::backends::Backends;
use crate::json;
use crate::progress::while_waiting;
use crate::request::{self, usage};
use crate::terminal::{self, Failure, Stdout, dim, for_stderr};
use futures::StreamExt;
use llm_core_host::types::*;
use llm_core_host::{Client, LlmCore};
use serde_json::json;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub async fn run(core: &LlmCore, args: ChatArgs, out: &mut Stdout) -> Result<ExitCode, Failure> {
    let target = &args.target;
    let backends = crate::backends::resolve(target)?;
    backends.tell_skipped(target.quiet);
    let request = request::build(&args)?;
    let client = backends.open(core).await?;
    let model = request.model.clone();
    let waiting_for = backends.waiting_for(model.as_deref());
    let progress = !target.quiet;
    let explain = |e: Error| backends.explain(e, model.as_deref());

    if args.tool_call_required() {
        if args.stream {
            return Err(usage(
                "--stream does not go with --tool-choice required or a tool name: the calls are checked on the whole answer; drop --stream",
            )
            .into());
        }
        let calls = while_waiting(
            &waiting_for,
            progress,
            client.chat_with_tool_call_output(request),
        )
        .await
        .map_err(explain)?;
        if target.json {
            let calls: Vec<_> = calls.iter().map(json::tool_call).collect();
            out.line(&json!({ "tool_calls": calls }).to_string())?;
        } else {
            for c in &calls {
                print_call(out, c)?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }

    let stream = !args.no_stream && (args.stream || (out.is_terminal() && !target.json));
    if stream {
        let stream = StreamArgs {
            json_lines: target.json,
            quiet: target.quiet,
            max_tokens: args.max_tokens,
        };
        return stream_chat(&client, request, &backends, &waiting_for, stream, out).await;
    }
    let response = while_waiting(&waiting_for, progress, client.chat(request))
        .await
        .map_err(explain)?;
    if target.json {
        out.line(&json::response(&response).to_string())?;
    } else {
        print_response(out, &response)?;
        if !target.quiet {
            length_note(&response, args.max_tokens);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_call(out: &mut Stdout, c: &ToolCall) -> Result<(), Failure> {
    out.ours(&format!("[tool call {}] ", c.id))?;
    out.server_text(&format!("{}({})", c.name, c.arguments))?;
    out.ours("\n")
}

fn print_invalid_call(out: &mut Stdout, c: &InvalidToolCall) -> Result<(), Failure> {
    out.ours(&format!("[invalid tool call {}] ", c.id))?;
    out.server_text(&format!("{}: {} — {}", c.name, c.raw_arguments, c.error))?;
    out.ours("\n")
}

fn print_response(out: &mut Stdout, r: &ChatResponse) -> Result<(), Failure> {
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
fn length_note(r: &ChatResponse, max_tokens: u32) {
    if r.finish_reason == Some(FinishReason::Length) && max_tokens > 0 {
        terminal::note(&dim(&format!(
            "note: the answer stopped at --max-tokens {max_tokens}; pass a larger --max-tokens (0 = the server's limit) for more"
        )));
    }
}

struct StreamArgs {
    json_lines: bool,
    quiet: bool,
    max_tokens: u32,
}

async fn stream_chat(
    client: &Client,
    request: ChatRequest,
    backends: &Backends,
    waiting_for: &str,
    opts: StreamArgs,
    out: &mut Stdout,
) -> Result<ExitCode, Failure> {
    let started = Instant::now();
    let model = request.model.clone();
    let mut first_token = None;
    let mut stream = while_waiting(waiting_for, !opts.quiet, client.chat_stream(request))
        .await
        .map_err(|e| backends.explain(e, model.as_deref()))?;
    let color = out.is_terminal();
    let mut in_reasoning = false;
    while let Some(item) = stream.next().await {
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
            out.line(&json::event(&event).to_string())?;
            continue;
        }
        match &event {
            StreamEvent::Content(text) => {
                first_token.get_or_insert_with(|| started.elapsed());
                if in_reasoning {
                    out.ours(if color { "\x1b[0m\n" } else { "\n[answer] " })?;
                    in_reasoning = false;
                }
                out.server_text(text)?;
            }
            StreamEvent::Reasoning(text) => {
                first_token.get_or_insert_with(|| started.elapsed());
                if !in_reasoning {
                    out.ours(if color { "\x1b[2m" } else { "[reasoning] " })?;
                    in_reasoning = true;
                }
                out.server_text(text)?;
            }
            StreamEvent::ToolCall(_) => {
                first_token.get_or_insert_with(|| started.elapsed());
            }
            StreamEvent::Logprobs(_) => {}
            StreamEvent::Done(r) => {
                if in_reasoning && color {
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
                    summary(r, started, first_token);
                    length_note(r, opts.max_tokens);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line on stderr: time to first token, tokens/s, usage, finish reason.
fn summary(r: &ChatResponse, started: Instant, first_token: Option<Duration>) {
    let total = started.elapsed();
    let ttft = first_token
        .map(|d| format!("{:.0} ms to first token", d.as_secs_f64() * 1000.0))
        .unwrap_or_else(|| "no tokens".into());
    let (usage, rate) = match &r.usage {
        Some(u) => {
            let gen_time = first_token
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
            (
                format!(
                    "{} prompt + {} completion tokens",
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
