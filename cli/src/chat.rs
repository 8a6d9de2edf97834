//! The `chat` command: one call, printed as text, as a stream of tokens, or as JSON; or the
//! continuation of a suspended one (`--resume`). With `--tool-choice required` or a tool's
//! name it is AIOS's `llm_chat_with_tool_call_output`: an answer without a valid call fails
//! with `invalid-output`.

use crate::answer::{length_note, print_call, print_response};
use crate::args::ChatArgs;
use crate::checkpoint;
use crate::json;
use crate::progress::while_waiting;
use crate::request::{self, usage};
use crate::stream::{self, StreamOpts};
use crate::terminal::{Failure, Stdout};
use llm_core_host::LlmCore;
use llm_core_host::types::*;
use serde_json::json;
use std::process::ExitCode;

/// A new request, or a suspended one to continue.
enum Call {
    Chat(ChatRequest),
    Resume(Checkpoint),
}

pub async fn run(core: &LlmCore, args: ChatArgs, out: &mut Stdout) -> Result<ExitCode, Failure> {
    let target = &args.target;
    let backends = crate::backends::resolve(target)?;
    backends.tell_skipped(target.quiet);
    if let Some(path) = &args.checkpoint {
        checkpoint::check_writable(path)?;
    }
    let call = match &args.resume {
        Some(path) => {
            let mut checkpoint = checkpoint::read(path)?;
            request::scheduling(&args, &mut checkpoint.request);
            Call::Resume(checkpoint)
        }
        None => Call::Chat(request::build(&args)?),
    };
    let request = match &call {
        Call::Chat(r) => r,
        Call::Resume(c) => &c.request,
    };
    let model = request.model.clone();
    let max_tokens = request.sampling.max_tokens.unwrap_or(0);
    let client = backends.open(core).await?;
    let waiting_for = backends.waiting_for(model.as_deref());
    let progress = !target.quiet;
    let explain = |e: Error| backends.explain(e, model.as_deref());

    if args.tool_call_required() {
        let streamed = if args.stream {
            Some("--stream")
        } else {
            args.checkpoint.as_ref().map(|_| "--checkpoint")
        };
        if let Some(flag) = streamed {
            return Err(usage(format!(
                "{flag} does not go with --tool-choice required or a tool name: the calls are checked on the whole answer; drop {flag}"
            ))
            .into());
        }
        let Call::Chat(request) = call else {
            unreachable!("--resume conflicts with --tool-choice")
        };
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

    // A continuation is printed as it comes (it is only the rest of an answer), except as
    // one JSON record.
    let resuming = matches!(call, Call::Resume(_));
    let stream = !args.no_stream
        && (args.stream
            || args.checkpoint.is_some()
            || (!target.json && (resuming || out.is_terminal())));
    // Time to first token counts from here: a stream is handed over only once the server's
    // first bytes (often the first token itself) are in.
    let asked = std::time::Instant::now();
    let started = while_waiting(&waiting_for, progress, async {
        match call {
            Call::Chat(request) if !stream => client.chat(request).await.map(Err),
            Call::Chat(request) => client.chat_stream(request).await.map(Ok),
            Call::Resume(checkpoint) => client.resume(checkpoint).await.map(Ok),
        }
    })
    .await
    .map_err(explain)?;
    let response = match started {
        Ok(s) if stream => {
            let opts = StreamOpts {
                json_lines: target.json,
                quiet: target.quiet,
                max_tokens,
                checkpoint: args.checkpoint.clone(),
            };
            return stream::print(s, asked, &opts, out).await;
        }
        // `--resume --json`: the whole answer's record.
        Ok(s) => s.collect_response().await.map_err(explain)?,
        Err(response) => response,
    };
    if target.json {
        out.line(&json::response(&response).to_string())?;
    } else {
        print_response(out, &response)?;
        if !target.quiet {
            length_note(&response, max_tokens);
        }
    }
    Ok(ExitCode::SUCCESS)
}
