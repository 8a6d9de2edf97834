//! The command line: every flag with its help text (a test checks that none lacks one), the
//! defaults the CLI picks, and value checks that speak of the flag rather than of the API.

use crate::secret::Secret;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `--max-tokens` when none is given: a runaway answer (a small model that never stops, a
/// server whose own default is "until the context is full") ends after this many tokens.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

#[derive(Parser, Debug)]
#[command(
    name = "llm-core",
    version,
    about = "Chat with self-hosted LLM servers (vLLM, SGLang, llama.cpp) through the aios-llm-core WebAssembly component",
    after_help = "Server, key and component defaults come from $LLM_CORE_BASE_URL, $LLM_CORE_API_KEY and $LLM_CORE_COMPONENT."
)]
pub struct Cli {
    /// Use this component file (.wasm) instead of the one built into llm-core.
    #[arg(long, global = true, env = "LLM_CORE_COMPONENT", value_name = "FILE")]
    pub component: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// One chat completion (prompt from the arguments, else from stdin).
    Chat(Box<ChatArgs>),
    /// List the models of every backend; a backend that does not answer is reported on
    /// stderr and makes the exit status 1.
    Models(Target),
    /// Probe every backend: up/down, latency, load, models (exit status 1 when one is down).
    Health(Target),
}

impl Command {
    pub fn target(&self) -> &Target {
        match self {
            Command::Chat(a) => &a.target,
            Command::Models(t) | Command::Health(t) => t,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Kind {
    /// Detect the family from the server's model list (`owned_by`) before the first chat.
    Auto,
    /// vLLM (`vllm serve`).
    Vllm,
    /// SGLang.
    Sglang,
    /// Any other OpenAI-compatible server, llama.cpp's llama-server included
    /// (also accepted as `openai-compatible`, `llama.cpp`, `llamacpp`).
    #[value(alias = "openai-compatible", alias = "llama.cpp", alias = "llamacpp")]
    Openai,
}

/// Which servers a command talks to, and how it reports.
#[derive(Args, Debug)]
pub struct Target {
    /// Backend base URL, e.g. http://127.0.0.1:8000/v1 (repeat for several backends).
    /// Default: $LLM_CORE_BASE_URL, else http://127.0.0.1:8000/v1.
    #[arg(long = "base-url", value_name = "URL")]
    pub base_urls: Vec<String>,
    /// Backends and policies from a file: our TOML, or AIOS's config.yaml (`llms:` section).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["base_urls", "backend", "legacy_guided_decoding"])]
    pub config: Option<PathBuf>,
    /// Server family of the --base-url backends: auto, vllm, sglang, openai (= llama.cpp).
    #[arg(long, value_enum, value_name = "KIND")]
    pub backend: Option<Kind>,
    /// API key for the --base-url backends (default: $LLM_CORE_API_KEY; never printed; a
    /// config file names its own keys).
    #[arg(
        long,
        env = "LLM_CORE_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<Secret>,
    /// vLLM before 0.12: send guided_regex / guided_choice / ... instead of structured_outputs.
    #[arg(long)]
    pub legacy_guided_decoding: bool,
    /// Time limit of the whole call in milliseconds, retries included (default 600000).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u32).range(1..))]
    pub timeout_ms: Option<u32>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// No notes on stderr: no progress line, no stream summary, no skipped-entry notes.
    #[arg(long, short)]
    pub quiet: bool,
}

impl Target {
    pub fn kind(&self) -> Kind {
        self.backend.unwrap_or(Kind::Auto)
    }
}

#[derive(Args, Debug)]
pub struct ChatArgs {
    #[command(flatten)]
    pub target: Target,
    /// Model name (default: the config file's default-model, else the server's first model).
    #[arg(long)]
    pub model: Option<String>,
    /// System prompt (sent first).
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,
    /// Conversation as a JSON array of OpenAI-shaped messages (the prompt, if any, is appended).
    #[arg(long, value_name = "FILE")]
    pub messages: Option<PathBuf>,
    /// Sampling temperature, 0 or more (0 = greedy).
    #[arg(long, value_name = "T", allow_negative_numbers = true, value_parser = non_negative)]
    pub temperature: Option<f64>,
    /// Nucleus sampling: keep the most likely tokens up to this probability mass (0 to 1).
    #[arg(long, value_name = "P", value_parser = probability)]
    pub top_p: Option<f64>,
    /// Keep the K most likely tokens (-1 = all).
    #[arg(long, value_name = "K", allow_negative_numbers = true, value_parser = clap::value_parser!(i32).range(-1..))]
    pub top_k: Option<i32>,
    /// Drop tokens below this fraction of the most likely token's probability (0 to 1).
    #[arg(long, value_name = "P", value_parser = probability)]
    pub min_p: Option<f64>,
    /// Most tokens to generate; 0 leaves the limit to the server.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_TOKENS)]
    pub max_tokens: u32,
    /// Stop generating at this text (repeatable).
    #[arg(long, value_name = "TEXT")]
    pub stop: Vec<String>,
    /// Seed for reproducible sampling.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub seed: Option<i64>,
    /// Penalty for tokens already present in the text (OpenAI: -2 to 2).
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub presence_penalty: Option<f64>,
    /// Penalty proportional to how often a token already appeared (OpenAI: -2 to 2).
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub frequency_penalty: Option<f64>,
    /// Multiplicative repetition penalty (vLLM, SGLang, llama.cpp; 1 = none).
    #[arg(long, value_name = "X", value_parser = positive)]
    pub repetition_penalty: Option<f64>,
    /// Tools the model may call: a JSON array, OpenAI-shaped or `[{"name","description","parameters"}]`.
    #[arg(long, value_name = "FILE")]
    pub tools: Option<PathBuf>,
    /// auto | required | none | the name of one tool. With required or a name the answer
    /// must call a tool: no call is an invalid-output error (exit status 1).
    #[arg(long, value_name = "CHOICE")]
    pub tool_choice: Option<String>,
    /// Allow several tool calls in one answer (sends parallel_tool_calls: true).
    #[arg(long, overrides_with = "no_parallel_tool_calls")]
    pub parallel_tool_calls: bool,
    /// At most one tool call per answer (sends parallel_tool_calls: false).
    #[arg(long)]
    pub no_parallel_tool_calls: bool,
    /// Keep tool calls the model wrote as text in the content (no recovery).
    #[arg(long)]
    pub no_recover_tool_calls: bool,
    /// Answer must be a JSON object.
    #[arg(long, group = "format")]
    pub json_object: bool,
    /// Answer must follow this JSON Schema (a JSON file).
    #[arg(long, value_name = "FILE", group = "format")]
    pub json_schema: Option<PathBuf>,
    /// Answer must match this regular expression.
    #[arg(long, value_name = "REGEX", group = "format")]
    pub regex: Option<String>,
    /// Answer must be one of these comma-separated strings.
    #[arg(long, value_name = "A,B,C", value_delimiter = ',', group = "format")]
    pub choice: Option<Vec<String>>,
    /// Answer must follow this grammar (EBNF for vLLM/SGLang, GBNF for llama.cpp).
    #[arg(long, value_name = "FILE", group = "format")]
    pub grammar: Option<PathBuf>,
    /// Leave `<think>...</think>` in the content.
    #[arg(long)]
    pub no_split_reasoning: bool,
    /// JSON object merged into the request body (server-specific fields).
    #[arg(long, value_name = "JSON")]
    pub extra_body: Option<String>,
    /// Stream tokens as they arrive (the default when stdout is a terminal).
    #[arg(long, overrides_with = "no_stream")]
    pub stream: bool,
    /// Print the answer only once it is complete.
    #[arg(long)]
    pub no_stream: bool,
    /// The prompt (read from stdin when absent and no --messages is given).
    #[arg(value_name = "PROMPT")]
    pub prompt: Vec<String>,
}

impl ChatArgs {
    /// `--parallel-tool-calls` / `--no-parallel-tool-calls`, or neither (not sent).
    pub fn parallel_tool_calls(&self) -> Option<bool> {
        if self.parallel_tool_calls {
            Some(true)
        } else if self.no_parallel_tool_calls {
            Some(false)
        } else {
            None
        }
    }

    /// `--tool-choice required` or a tool's name: the answer must hold a call.
    pub fn tool_call_required(&self) -> bool {
        matches!(self.tool_choice.as_deref(), Some(c) if c != "auto" && c != "none")
    }
}

fn number(s: &str) -> Result<f64, String> {
    let x: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if x.is_finite() {
        Ok(x)
    } else {
        Err(format!("`{s}` is not a finite number"))
    }
}

fn non_negative(s: &str) -> Result<f64, String> {
    number(s).and_then(|x| {
        if x >= 0.0 {
            Ok(x)
        } else {
            Err("must be 0 or more (0 = greedy)".into())
        }
    })
}

fn probability(s: &str) -> Result<f64, String> {
    number(s).and_then(|x| {
        if (0.0..=1.0).contains(&x) {
            Ok(x)
        } else {
            Err("must be between 0 and 1".into())
        }
    })
}

fn positive(s: &str) -> Result<f64, String> {
    number(s).and_then(|x| {
        if x > 0.0 {
            Ok(x)
        } else {
            Err("must be more than 0 (1 = no penalty)".into())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every argument of every command says what it does.
    #[test]
    fn every_argument_has_help() {
        let cli = Cli::command();
        let mut commands = vec![&cli];
        commands.extend(cli.get_subcommands());
        let mut checked = 0;
        for command in commands {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                assert!(
                    !help.trim().is_empty(),
                    "`{} --{id}` has no help text",
                    command.get_name()
                );
                checked += 1;
            }
        }
        assert!(checked > 30, "only {checked} arguments seen");
        Cli::command().debug_assert();
    }

    #[test]
    fn numbers_are_checked_with_our_messages() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map_err(|e| e.to_string());
        let e = parse(&["llm-core", "chat", "--temperature", "-1", "hi"]).unwrap_err();
        assert!(
            e.contains("--temperature") && e.contains("0 or more"),
            "{e}"
        );
        let e = parse(&["llm-core", "chat", "--timeout-ms", "0", "hi"]).unwrap_err();
        assert!(e.contains("--timeout-ms"), "{e}");
        let cli = parse(&["llm-core", "chat", "--top-k", "-1", "--seed", "-5", "hi"]).unwrap();
        let Command::Chat(a) = cli.command else {
            panic!("chat")
        };
        assert_eq!((a.top_k, a.seed, a.max_tokens), (Some(-1), Some(-5), 1024));
        assert!(parse(&["llm-core", "chat", "--top-p", "1.5", "hi"]).is_err());
        assert!(parse(&["llm-core", "chat", "--temperature", "NaN", "hi"]).is_err());
    }

    #[test]
    fn the_api_key_never_shows_in_debug() {
        let cli =
            Cli::try_parse_from(["llm-core", "models", "--api-key", "sk-very-secret"]).unwrap();
        let text = format!("{cli:?}");
        assert!(!text.contains("sk-very-secret"), "{text}");
        assert!(text.contains("api_key"), "{text}");
    }
}
