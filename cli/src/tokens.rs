//! The `tokens` command: how many prompt tokens a conversation would use, counted by a
//! server that serves its model (chat template and tools included), so a caller can trim a
//! history before sending it rather than meet `context-length-exceeded` after a round trip.

use crate::args::TokensArgs;
use crate::progress::while_waiting;
use crate::request;
use crate::terminal::{Failure, Stdout};
use llm_core_host::LlmCore;
use llm_core_host::types::TokenCount;
use serde_json::{Value, json};
use std::process::ExitCode;

pub async fn run(core: &LlmCore, args: TokensArgs, out: &mut Stdout) -> Result<ExitCode, Failure> {
    let target = &args.target;
    let backends = crate::backends::resolve(target)?;
    backends.tell_skipped(target.quiet);
    let request = request::conversation(&args.conversation)?;
    let model = request.model.clone();
    let client = backends.open(core).await?;
    let count = while_waiting(
        &backends.waiting_for(model.as_deref()),
        !target.quiet,
        client.count_tokens(request),
    )
    .await
    .map_err(|e| backends.explain(e, model.as_deref()))?;
    if target.json {
        out.line(&to_json(&count).to_string())?;
    } else {
        out.server_text(&format!("{}\n", line(&count)))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `17 prompt tokens (model m, context 32768)`.
fn line(c: &TokenCount) -> String {
    let context = c
        .max_model_len
        .map(|n| format!(", context {n}"))
        .unwrap_or_default();
    format!(
        "{} prompt tokens (model {}{context})",
        c.prompt_tokens, c.model
    )
}

/// `{"prompt_tokens","max_model_len","model","backend"}`.
fn to_json(c: &TokenCount) -> Value {
    json!({
        "prompt_tokens": c.prompt_tokens,
        "max_model_len": c.max_model_len,
        "model": c.model,
        "backend": c.backend,
    })
}
