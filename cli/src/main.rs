//! `llm-core`: chat with vLLM, SGLang or any OpenAI-compatible server through the
//! aios-llm-core component. This file runs a command and reports how it ended; the flags
//! are in `args` and `chat_args`, the servers in `backends` (files in `config_file`), the
//! request in `request` and `images`, the commands in `chat` (streams in `stream`, Ctrl-C
//! in `interrupt`, checkpoints in `checkpoint` and `request_json`), `tokens`, `embed` and
//! `inspect`, and all output in `terminal`, `answer`, `json` and `progress`.

mod answer;
mod args;
mod backends;
mod chat;
mod chat_args;
mod checkpoint;
mod component;
mod config_file;
mod embed;
mod images;
mod inspect;
mod interrupt;
mod json;
mod progress;
mod request;
mod request_json;
mod secret;
mod stream;
mod terminal;
mod tokens;

use args::{Cli, Command};
use clap::Parser;
use llm_core_host::types::Error;
use std::io::ErrorKind;
use std::process::ExitCode;
use terminal::{Failure, Stdout, dim, for_stderr};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_output = cli.command.target().json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            terminal::note(&format!("error: cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let mut out = Stdout::new();
    let ended = runtime.block_on(run(cli, &mut out));
    match ended {
        Ok(code) => code,
        // The reader went away (`| head`): nothing is wrong, nobody is listening.
        Err(Failure::Stdout(e)) if e.kind() == ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Stdout(e)) => {
            terminal::note(&format!("error: cannot write the answer to stdout: {e}"));
            ExitCode::FAILURE
        }
        Err(Failure::Call(e)) => {
            report(&e, json_output, true, &mut out);
            ExitCode::FAILURE
        }
        Err(Failure::Streamed(e)) => {
            report(&e, json_output, false, &mut out);
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, out: &mut Stdout) -> Result<ExitCode, Failure> {
    let core = component::load(cli.component.as_deref())?;
    match cli.command {
        Command::Chat(args) => chat::run(&core, *args, out).await,
        Command::Tokens(args) => tokens::run(&core, args, out).await,
        Command::Embed(args) => embed::run(&core, args, out).await,
        Command::Models(target) => inspect::models(&core, &target, out).await,
        Command::Health(target) => inspect::health(&core, &target, out).await,
    }
}

/// A failure: `{"error":{...}}` on stdout with `--json`, else one line on stderr —
/// `error (kind, backend B, HTTP s): message` — then, when the call received an answer that
/// was not printed (`show_partial`), that answer.
fn report(e: &Error, json_output: bool, show_partial: bool, out: &mut Stdout) {
    if json_output {
        let _ = out.line(&json::error(e).to_string());
        return;
    }
    let mut context = vec![e.code.name().to_string()];
    if let Some(b) = &e.backend {
        context.push(format!("backend {b}"));
    }
    if let Some(s) = e.status {
        context.push(format!("HTTP {s}"));
    }
    terminal::note(&format!(
        "error ({}): {}",
        for_stderr(&context.join(", ")),
        for_stderr(&e.message)
    ));
    let received = e.partial.as_ref().filter(|_| show_partial).and_then(|p| {
        p.content
            .clone()
            .or_else(|| p.reasoning.as_ref().map(|r| format!("[reasoning] {r}")))
    });
    if let Some(text) = received.filter(|t| !t.is_empty()) {
        terminal::note(&dim(&format!("the server's answer: {}", for_stderr(&text))));
    }
}
