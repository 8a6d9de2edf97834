//! `llm-core`: chat with vLLM, SGLang or any OpenAI-compatible server through the
//! aios-llm-core component. Arguments and output here; the config-file formats in
//! `config_file`, the JSON renderings in `json`.

mod config_file;
mod json;

use clap::{Args, Parser, Subcommand, ValueEnum};
use futures::StreamExt;
use llm_core_host::types::*;
use llm_core_host::{HostOptions, LlmCore};
use serde_json::Value;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8000/v1";

#[derive(Parser)]
#[command(
    name = "llm-core",
    version,
    about = "Chat with self-hosted LLM servers (vLLM, SGLang, llama.cpp) through the aios-llm-core WebAssembly component"
)]
struct Cli {
    /// Use this component file instead of the embedded one.
    #[arg(long, global = true, env = "LLM_CORE_COMPONENT")]
    component: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One chat completion (prompt from the argument, else stdin).
    Chat(Box<ChatArgs>),
    /// List the models of every backend.
    Models(Target),
    /// Probe every backend: up/down, latency, load, models.
    Health(Target),
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    /// Detect the family from the server's model list (`owned_by`) before the first chat.
    Auto,
    /// vLLM (`vllm serve`).
    Vllm,
    /// SGLang.
    Sglang,
    /// Any OpenAI-compatible server (llama.cpp's llama-server, ...).
    #[value(alias = "openai-compatible", alias = "llama.cpp", alias = "llamacpp")]
    Openai,
}

#[derive(Args)]
struct Target {
    /// Backend base URL, e.g. http://127.0.0.1:8000/v1 (repeat for several backends).
    /// Default: $LLM_CORE_BASE_URL, else http://127.0.0.1:8000/v1.
    #[arg(long = "base-url", value_name = "URL")]
    base_urls: Vec<String>,
    /// Backends and policies from a file: our TOML, or AIOS's config.yaml (`llms:` section).
    #[arg(long, value_name = "FILE", conflicts_with = "base_urls")]
    config: Option<PathBuf>,
    /// Server family of the --base-url backends.
    #[arg(long, value_enum, default_value = "auto")]
    backend: Kind,
    /// API key for the --base-url backends (never printed).
    #[arg(long, env = "LLM_CORE_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Whole-call time limit in milliseconds.
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u32>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ChatArgs {
    #[command(flatten)]
    target: Target,
    /// Model name (default: the server's first model).
    #[arg(long)]
    model: Option<String>,
    /// System prompt.
    #[arg(long)]
    system: Option<String>,
    #[arg(long)]
    temperature: Option<f64>,
    #[arg(long, value_name = "N")]
    max_tokens: Option<u32>,
    /// Seed for reproducible sampling.
    #[arg(long)]
    seed: Option<i64>,
    /// Stop generating at this text (repeatable).
    #[arg(long, value_name = "TEXT")]
    stop: Vec<String>,
    /// Conversation as a JSON array of OpenAI-shaped messages (the prompt, if any, is appended).
    #[arg(long, value_name = "FILE")]
    messages: Option<PathBuf>,
    /// Tools the model may call: a JSON array, OpenAI-shaped or `[{"name","description","parameters"}]`.
    #[arg(long, value_name = "FILE")]
    tools: Option<PathBuf>,
    /// auto | required | none | the name of one tool.
    #[arg(long, value_name = "CHOICE")]
    tool_choice: Option<String>,
    /// Keep tool calls the model wrote as text in the content (no recovery).
    #[arg(long)]
    no_recover_tool_calls: bool,
    /// Answer must be a JSON object.
    #[arg(long, group = "format")]
    json_object: bool,
    /// Answer must follow this JSON Schema (a JSON file).
    #[arg(long, value_name = "FILE", group = "format")]
    json_schema: Option<PathBuf>,
    /// Answer must match this regular expression.
    #[arg(long, value_name = "REGEX", group = "format")]
    regex: Option<String>,
    /// Answer must be one of these comma-separated strings.
    #[arg(long, value_name = "A,B,C", value_delimiter = ',', group = "format")]
    choice: Option<Vec<String>>,
    /// Answer must follow this grammar (EBNF for vLLM/SGLang, GBNF for llama.cpp).
    #[arg(long, value_name = "FILE", group = "format")]
    grammar: Option<PathBuf>,
    /// Leave `<think>...</think>` in the content.
    #[arg(long)]
    no_split_reasoning: bool,
    /// JSON object merged into the request body (server-specific fields).
    #[arg(long, value_name = "JSON")]
    extra_body: Option<String>,
    /// Stream tokens as they arrive (default when stdout is a terminal).
    #[arg(long, overrides_with = "no_stream")]
    stream: bool,
    /// Do not stream.
    #[arg(long)]
    no_stream: bool,
    /// The prompt (read from stdin when absent).
    prompt: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json_output = match &cli.command {
        Command::Chat(a) => a.target.json,
        Command::Models(t) | Command::Health(t) => t.json,
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            report(&e, json_output);
            ExitCode::FAILURE
        }
    }
}

fn report(e: &Error, json_output: bool) {
    if json_output {
        println!("{}", json::error(e));
        return;
    }
    let mut context = vec![e.code.name().to_string()];
    if let Some(b) = &e.backend {
        context.push(format!("backend {b}"));
    }
    if let Some(s) = e.status {
        context.push(format!("HTTP {s}"));
    }
    eprintln!("error ({}): {}", context.join(", "), e.message);
}

fn usage(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidRequest, message)
}

async fn run(cli: Cli) -> Result<ExitCode, Error> {
    let core = match &cli.component {
        Some(path) => LlmCore::from_file(path, HostOptions::default())?,
        None => LlmCore::new(HostOptions::default())?,
    };
    match cli.command {
        Command::Chat(args) => chat(&core, *args).await,
        Command::Models(target) => {
            let client = core.client(client_config(&target)?).await?;
            let models = client.list_models().await?;
            if target.json {
                println!("{}", Value::Array(models.iter().map(json::model).collect()));
            } else {
                for m in &models {
                    let len = m
                        .max_model_len
                        .map(|n| format!("  (context {n})"))
                        .unwrap_or_default();
                    println!("{}\t{}{len}", m.id, m.backend);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Health(target) => {
            let client = core.client(client_config(&target)?).await?;
            let report = client.health().await?;
            let all_up = report.iter().all(|h| h.healthy);
            if target.json {
                println!(
                    "{}",
                    Value::Array(report.iter().map(json::health).collect())
                );
            } else {
                println!(
                    "{:<24} {:<6} {:>9} {:>5}  models",
                    "backend", "status", "latency", "load"
                );
                for h in &report {
                    let latency = h
                        .latency_ms
                        .map(|ms| format!("{ms} ms"))
                        .unwrap_or_else(|| "-".into());
                    let load = h.load.map(|l| l.to_string()).unwrap_or_else(|| "-".into());
                    let status = if h.healthy { "up" } else { "down" };
                    println!(
                        "{:<24} {:<6} {:>9} {:>5}  {}",
                        h.backend,
                        status,
                        latency,
                        load,
                        h.models.join(", ")
                    );
                    if let Some(e) = &h.error {
                        println!("  {}: {}", e.code.name(), e.message);
                    }
                }
            }
            Ok(if all_up {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn client_config(t: &Target) -> Result<ClientConfig, Error> {
    if let Some(path) = &t.config {
        let mut config = config_file::load(path)?;
        if t.timeout_ms.is_some() {
            config.timeouts.total_ms = t.timeout_ms;
        }
        return Ok(config);
    }
    let mut urls = t.base_urls.clone();
    if urls.is_empty() {
        urls.push(
            std::env::var("LLM_CORE_BASE_URL").unwrap_or_else(|_| DEFAULT_BASE_URL.to_string()),
        );
    }
    let kind = match t.backend {
        Kind::Auto => BackendKind::Auto,
        Kind::Vllm => BackendKind::Vllm,
        Kind::Sglang => BackendKind::Sglang,
        Kind::Openai => BackendKind::OpenaiCompatible,
    };
    let backends = urls
        .into_iter()
        .map(|url| BackendConfig {
            api_key: t.api_key.clone(),
            ..BackendConfig::new(kind, url)
        })
        .collect();
    let mut config = ClientConfig::new(backends);
    config.timeouts.total_ms = t.timeout_ms;
    Ok(config)
}

fn read_json(path: &PathBuf) -> Result<Value, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| usage(format!("{} is not valid JSON: {e}", path.display())))
}

fn chat_request(args: &ChatArgs) -> Result<ChatRequest, Error> {
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(Message::system(system.clone()));
    }
    if let Some(path) = &args.messages {
        messages.extend(json::messages(&read_json(path)?).map_err(usage)?);
    }
    let prompt = if !args.prompt.is_empty() {
        Some(args.prompt.join(" "))
    } else if args.messages.is_none() {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| usage(format!("cannot read the prompt from stdin: {e}")))?;
        Some(text)
    } else {
        None
    };
    if let Some(p) = prompt.filter(|p| !p.trim().is_empty()) {
        messages.push(Message::user(p));
    }
    if messages.iter().all(|m| m.role == Role::System) {
        return Err(usage(
            "no prompt: pass it as an argument, on stdin, or with --messages",
        ));
    }
    let mut request = ChatRequest::new(messages);
    request.model = args.model.clone();
    request.sampling.temperature = args.temperature;
    request.sampling.max_tokens = args.max_tokens;
    request.sampling.seed = args.seed;
    request.sampling.stop = args.stop.clone();
    if let Some(path) = &args.tools {
        request.tools = json::tools(&read_json(path)?).map_err(usage)?;
    }
    request.tool_choice = args.tool_choice.as_deref().map(|c| match c {
        "auto" => ToolChoice::Auto,
        "required" => ToolChoice::Required,
        "none" => ToolChoice::None,
        name => ToolChoice::Named(name.to_string()),
    });
    request.recover_tool_calls = args.no_recover_tool_calls.then_some(false);
    request.split_reasoning = args.no_split_reasoning.then_some(false);
    request.extra_body = args.extra_body.clone();
    request.response_format = if args.json_object {
        Some(ResponseFormat::JsonObject)
    } else if let Some(path) = &args.json_schema {
        let schema = read_json(path)?;
        let name = path.file_stem().map(|s| {
            s.to_string_lossy().replace(
                |c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-',
                "_",
            )
        });
        Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "answer".into()),
            description: None,
            schema: schema.to_string(),
            strict: Some(true),
        }))
    } else if let Some(re) = &args.regex {
        Some(ResponseFormat::Regex(re.clone()))
    } else if let Some(choices) = &args.choice {
        Some(ResponseFormat::Choice(choices.clone()))
    } else if let Some(path) = &args.grammar {
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
        Some(ResponseFormat::Grammar(text))
    } else {
        None
    };
    Ok(request)
}

async fn chat(core: &LlmCore, args: ChatArgs) -> Result<ExitCode, Error> {
    let request = chat_request(&args)?;
    let client = core.client(client_config(&args.target)?).await?;
    let stream = if args.no_stream {
        false
    } else {
        args.stream || (std::io::stdout().is_terminal() && !args.target.json)
    };
    if stream {
        return stream_chat(&client, request, args.target.json).await;
    }
    let response = client.chat(request).await?;
    if args.target.json {
        println!("{}", json::response(&response));
    } else {
        print_text_response(&response);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text_response(r: &ChatResponse) {
    if let Some(reasoning) = &r.reasoning {
        eprintln!("{}", dim(&format!("[reasoning] {reasoning}")));
    }
    if let Some(content) = &r.content {
        println!("{content}");
    }
    for c in &r.tool_calls {
        println!("[tool call {}] {}({})", c.id, c.name, c.arguments);
    }
    for c in &r.invalid_tool_calls {
        println!(
            "[invalid tool call {}] {}: {} — {}",
            c.id, c.name, c.raw_arguments, c.error
        );
    }
}

fn dim(text: &str) -> String {
    if std::io::stderr().is_terminal() {
        format!("\x1b[2m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

async fn stream_chat(
    client: &llm_core_host::Client,
    request: ChatRequest,
    json_lines: bool,
) -> Result<ExitCode, Error> {
    let started = Instant::now();
    let mut first_token = None;
    let mut stream = client.chat_stream(request).await?;
    let mut out = std::io::stdout().lock();
    let color = std::io::stdout().is_terminal();
    let mut in_reasoning = false;
    while let Some(item) = stream.next().await {
        let event = match item {
            Ok(e) => e,
            Err(e) => {
                if !json_lines {
                    let _ = writeln!(out);
                }
                return Err(e);
            }
        };
        if json_lines {
            let _ = writeln!(out, "{}", json::event(&event));
            continue;
        }
        match &event {
            StreamEvent::Content(text) => {
                first_token.get_or_insert_with(|| started.elapsed());
                if in_reasoning {
                    let _ = write!(out, "{}", if color { "\x1b[0m\n" } else { "\n[answer] " });
                    in_reasoning = false;
                }
                let _ = write!(out, "{text}");
            }
            StreamEvent::Reasoning(text) => {
                first_token.get_or_insert_with(|| started.elapsed());
                if !in_reasoning {
                    let _ = write!(out, "{}", if color { "\x1b[2m" } else { "[reasoning] " });
                    in_reasoning = true;
                }
                let _ = write!(out, "{text}");
            }
            StreamEvent::ToolCall(_) => {
                first_token.get_or_insert_with(|| started.elapsed());
            }
            StreamEvent::Logprobs(_) => {}
            StreamEvent::Done(r) => {
                if in_reasoning && color {
                    let _ = write!(out, "\x1b[0m");
                }
                let _ = writeln!(out);
                for c in &r.tool_calls {
                    let _ = writeln!(out, "[tool call {}] {}({})", c.id, c.name, c.arguments);
                }
                summary(r, started, first_token);
            }
        }
        let _ = out.flush();
    }
    Ok(ExitCode::SUCCESS)
}

/// One line on stderr: time to first token, tokens/s, usage, finish reason.
fn summary(r: &ChatResponse, started: Instant, first_token: Option<std::time::Duration>) {
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
    eprintln!(
        "{}",
        dim(&format!(
            "— {ttft}, {rate}, {usage}, finish: {finish}, backend {} ({:.1} s)",
            r.backend,
            total.as_secs_f64()
        ))
    );
}
