//! The flags of `chat` (and the conversation flags `tokens` shares with it): the request,
//! how the answer is shown, and suspending and resuming it.

use crate::args::{Target, non_negative, number, positive, probability};
use clap::Args;
use std::path::PathBuf;

/// `--max-tokens` when none is given: a runaway answer (a small model that never stops, a
/// server whose own default is "until the context is full") ends after this many tokens.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// The conversation and what shapes its prompt: model, messages, images, tools.
#[derive(Args, Debug)]
pub struct Conversation {
    /// Model name (default: the config file's default-model, else the server's first model).
    #[arg(long)]
    pub model: Option<String>,
    /// System prompt (sent first).
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,
    /// Conversation as a JSON array of OpenAI-shaped messages (the prompt, if any, is appended).
    #[arg(long, value_name = "FILE")]
    pub messages: Option<PathBuf>,
    /// An image for the last user message (repeatable): an http(s):// or data: URL, sent as
    /// is, or a .png/.jpg/.jpeg/.gif/.webp file, sent inline (at most 4 MiB in all). Needs a
    /// vision model.
    #[arg(long, value_name = "FILE_OR_URL")]
    pub image: Vec<String>,
    /// Tools the model may call: a JSON array, OpenAI-shaped or `[{"name","description","parameters"}]`.
    #[arg(long, value_name = "FILE")]
    pub tools: Option<PathBuf>,
    /// The prompt (read from stdin when absent and no --messages is given).
    #[arg(value_name = "PROMPT")]
    pub prompt: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ChatArgs {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub conversation: Conversation,
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
    #[arg(long, value_name = "X", allow_negative_numbers = true, value_parser = number)]
    pub presence_penalty: Option<f64>,
    /// Penalty proportional to how often a token already appeared (OpenAI: -2 to 2).
    #[arg(long, value_name = "X", allow_negative_numbers = true, value_parser = number)]
    pub frequency_penalty: Option<f64>,
    /// Multiplicative repetition penalty (vLLM, SGLang, llama.cpp; 1 = none).
    #[arg(long, value_name = "X", value_parser = positive)]
    pub repetition_penalty: Option<f64>,
    /// Per-token log probabilities of the answer, with the N most likely alternatives at each
    /// position (0 = the chosen tokens only); shown with --json.
    #[arg(long, value_name = "N")]
    pub logprobs: Option<u8>,
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
    /// Scheduling priority, lower runs first (sent as vLLM's priority, negated for SGLang;
    /// a vLLM without --scheduling-policy priority gets the request again without it).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub priority: Option<i32>,
    /// Names this call to the servers (X-Request-Id header, vLLM request_id, SGLang rid);
    /// default: a random llmcore-… id.
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,
    /// The agent or conversation this call belongs to: --routing cache-aware keeps it on one
    /// backend, and cluster routers get it in the x-session-id header.
    #[arg(long, value_name = "ID")]
    pub session_id: Option<String>,
    /// Isolates prefix caching (vLLM cache_salt): calls with different salts never share
    /// cached prompt prefixes.
    #[arg(long, value_name = "SALT")]
    pub cache_salt: Option<String>,
    /// Stream tokens as they arrive (the default when stdout is a terminal).
    #[arg(long, overrides_with = "no_stream")]
    pub stream: bool,
    /// Print the answer only once it is complete.
    #[arg(long)]
    pub no_stream: bool,
    /// On Ctrl-C, suspend the streamed answer and write where it got to to FILE as JSON
    /// (exit status 130); continue it with --resume FILE. Streams the answer.
    #[arg(long, value_name = "FILE", conflicts_with = "no_stream")]
    pub checkpoint: Option<PathBuf>,
    /// Continue a suspended answer from a checkpoint file (--checkpoint's, or the
    /// {"type":"checkpoint"} line of --json); prints only the continuation. The request is
    /// the file's: only --priority and --request-id may replace its values.
    #[arg(long, value_name = "FILE", conflicts_with_all = RESUME_CONFLICTS)]
    pub resume: Option<PathBuf>,
}

/// What `--resume` takes from its checkpoint, so cannot be given with it.
const RESUME_CONFLICTS: [&str; 30] = [
    "model",
    "system",
    "messages",
    "image",
    "tools",
    "prompt",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "max_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "repetition_penalty",
    "logprobs",
    "tool_choice",
    "parallel_tool_calls",
    "no_parallel_tool_calls",
    "no_recover_tool_calls",
    "json_object",
    "json_schema",
    "regex",
    "choice",
    "grammar",
    "no_split_reasoning",
    "extra_body",
    "session_id",
    "cache_salt",
];

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
