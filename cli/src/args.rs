//! The command line: every flag with its help text (a test checks that none lacks one), the
//! defaults the CLI picks, and value checks that speak of the flag rather than of the API.
//! The `chat` flags are in `chat_args`.

pub use crate::chat_args::{ChatArgs, Conversation};
use crate::secret::Secret;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

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
    /// One chat completion (prompt from the arguments, else from stdin). Ctrl-C during a
    /// streamed answer can suspend it to a checkpoint (--checkpoint), resumed with --resume.
    Chat(Box<ChatArgs>),
    /// Count the prompt tokens a conversation would use, as the server counts them (chat
    /// template and tools included), with the model's context length when the server says.
    Tokens(TokensArgs),
    /// Embedding vectors of texts (the arguments, else one text per line of stdin): one JSON
    /// array per text, in order.
    Embed(EmbedArgs),
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
            Command::Tokens(a) => &a.target,
            Command::Embed(a) => &a.target,
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

/// How requests pick among several `--base-url` backends (`client-config.routing`).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Routing {
    /// Round-robin (the default).
    Sequential,
    /// Fewest running + waiting requests, as each server's /metrics reports them.
    LeastLoaded,
    /// The first healthy backend in the order given (failover).
    Priority,
    /// Random, in equal shares (the --base-url backends all weigh 1).
    Weighted,
    /// Each --session-id (else each conversation's start) stays on one backend, whose
    /// prompt cache holds it.
    CacheAware,
}

/// Which servers a command talks to, and how it reports.
#[derive(Args, Debug)]
pub struct Target {
    /// Backend base URL, e.g. http://127.0.0.1:8000/v1 (repeat for several backends).
    /// Default: $LLM_CORE_BASE_URL, else http://127.0.0.1:8000/v1.
    #[arg(long = "base-url", value_name = "URL")]
    pub base_urls: Vec<String>,
    /// Backends and policies from a file: our TOML, or AIOS's config.yaml (`llms:` section).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["base_urls", "backend", "legacy_guided_decoding", "routing"])]
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
    /// How requests pick among several --base-url backends: sequential (round-robin, the
    /// default), least-loaded, priority, weighted or cache-aware.
    #[arg(long, value_enum, value_name = "STRATEGY")]
    pub routing: Option<Routing>,
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
pub struct TokensArgs {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub conversation: Conversation,
}

#[derive(Args, Debug)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub target: Target,
    /// Embedding model (default: the config file's default-model, else the server's first model).
    #[arg(long)]
    pub model: Option<String>,
    /// Length of the vectors, for models that can shorten theirs (Matryoshka).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub dimensions: Option<u32>,
    /// Texts sent per request (default 64); more are sent in several requests, in order.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: Option<u32>,
    /// The texts, one vector each (default: one text per line of stdin).
    #[arg(value_name = "TEXT")]
    pub texts: Vec<String>,
}

pub(crate) fn number(s: &str) -> Result<f64, String> {
    let x: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if x.is_finite() {
        Ok(x)
    } else {
        Err(format!("`{s}` is not a finite number"))
    }
}

pub(crate) fn non_negative(s: &str) -> Result<f64, String> {
    number(s).and_then(|x| {
        if x >= 0.0 {
            Ok(x)
        } else {
            Err("must be 0 or more (0 = greedy)".into())
        }
    })
}

pub(crate) fn probability(s: &str) -> Result<f64, String> {
    number(s).and_then(|x| {
        if (0.0..=1.0).contains(&x) {
            Ok(x)
        } else {
            Err("must be between 0 and 1".into())
        }
    })
}

pub(crate) fn positive(s: &str) -> Result<f64, String> {
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
    fn resume_takes_the_request_from_its_file() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map_err(|e| e.to_string());
        // The default --max-tokens is not a request flag given.
        assert!(parse(&["llm-core", "chat", "--resume", "f.json"]).is_ok());
        let cli = parse(&[
            "llm-core",
            "chat",
            "--resume",
            "f.json",
            "--priority",
            "-2",
            "--request-id",
            "r",
            "--json",
            "--checkpoint",
            "g.json",
        ])
        .unwrap();
        let Command::Chat(a) = cli.command else {
            panic!("chat")
        };
        assert_eq!((a.priority, a.request_id.as_deref()), (Some(-2), Some("r")));
        for flag in [
            &["--max-tokens", "5"][..],
            &["--model", "m"],
            &["--image", "a.png"],
            &["--logprobs", "1"],
            &["--session-id", "s"],
            &["hello"],
        ] {
            let mut args = vec!["llm-core", "chat", "--resume", "f.json"];
            args.extend_from_slice(flag);
            let e = parse(&args).unwrap_err();
            assert!(e.contains("cannot be used with"), "{flag:?}: {e}");
        }
        assert!(parse(&["llm-core", "chat", "--checkpoint", "f", "--no-stream", "x"]).is_err());
        assert!(parse(&["llm-core", "chat", "--logprobs", "256", "x"]).is_err());
        assert!(parse(&["llm-core", "chat", "--presence-penalty", "NaN", "x"]).is_err());
        assert!(parse(&["llm-core", "models", "--routing", "cache-aware"]).is_ok());
        assert!(parse(&["llm-core", "embed", "--dimensions", "0", "x"]).is_err());
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
