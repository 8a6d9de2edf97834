//! The `embed` command: embedding vectors of texts, one JSON array per text in input order
//! (each on its own line, so `paste` or `jq -c` can line them up with the texts), or one JSON
//! object with the model and token usage. Floats are printed as the shortest decimal that
//! reads back to the same `f32`.

use crate::args::EmbedArgs;
use crate::json;
use crate::progress::while_waiting;
use crate::request::usage;
use crate::terminal::{self, Failure, Stdout};
use llm_core_host::LlmCore;
use llm_core_host::types::{EmbedRequest, Embeddings, Error};
use serde::Serialize;
use std::io::{IsTerminal, Read};
use std::process::ExitCode;

pub async fn run(core: &LlmCore, args: EmbedArgs, out: &mut Stdout) -> Result<ExitCode, Failure> {
    let target = &args.target;
    let backends = crate::backends::resolve(target)?;
    backends.tell_skipped(target.quiet);
    let inputs = if args.texts.is_empty() {
        texts_from_stdin()?
    } else {
        args.texts.clone()
    };
    let request = EmbedRequest {
        inputs,
        model: args.model.clone(),
        dimensions: args.dimensions,
        batch_size: args.batch_size,
        timeout_ms: None,
    };
    let client = backends.open(core).await?;
    let model = args.model.as_deref();
    let embeddings = while_waiting(
        &backends.waiting_for(model),
        !target.quiet,
        client.embed(request),
    )
    .await
    .map_err(|e| backends.explain(e, model))?;
    if target.json {
        out.line(&record(&embeddings))?;
    } else {
        for v in &embeddings.vectors {
            out.line(&serde_json::to_string(v).expect("floats serialise"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `{"vectors":[[...]],"model","usage","backend","attempts"}`.
fn record(e: &Embeddings) -> String {
    #[derive(Serialize)]
    struct Record<'a> {
        vectors: &'a [Vec<f32>],
        model: &'a str,
        usage: serde_json::Value,
        backend: &'a str,
        attempts: u32,
    }
    serde_json::to_string(&Record {
        vectors: &e.vectors,
        model: &e.model,
        usage: e.usage.as_ref().map(json::usage).into(),
        backend: &e.backend,
        attempts: e.attempts,
    })
    .expect("an embeddings record serialises")
}

/// One text per line of stdin (a last line without a newline counts).
fn texts_from_stdin() -> Result<Vec<String>, Error> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        terminal::note(
            "reading texts from stdin, one per line; end with Ctrl-D (or pass them as arguments)",
        );
    }
    let mut text = String::new();
    stdin
        .lock()
        .read_to_string(&mut text)
        .map_err(|e| usage(format!("cannot read the texts from stdin: {e}")))?;
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        return Err(usage(
            "no texts: pass them as arguments, or one per line on stdin",
        ));
    }
    Ok(lines)
}
