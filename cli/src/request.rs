//! The chat request a command line asks for: the conversation (`--system`, `--messages`,
//! the prompt from the arguments or stdin, `--image`), sampling, tools, the output
//! constraint and the scheduling fields.

use crate::args::{ChatArgs, Conversation};
use crate::images;
use crate::json;
use crate::terminal;
use llm_core_host::types::*;
use serde_json::Value;
use std::io::{IsTerminal, Read};
use std::path::Path;

/// A usage mistake: the request cannot be built as given.
pub fn usage(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidRequest, message)
}

fn read_text(flag: &str, path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path)
        .map_err(|e| usage(format!("{flag} {}: cannot read it: {e}", path.display())))
}

fn read_json(flag: &str, path: &Path) -> Result<Value, Error> {
    serde_json::from_str(&read_text(flag, path)?)
        .map_err(|e| usage(format!("{flag} {}: not valid JSON: {e}", path.display())))
}

/// The prompt from stdin; at a terminal, says that it is waiting for one.
fn prompt_from_stdin() -> Result<String, Error> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        terminal::note(
            "reading the prompt from stdin; end it with Ctrl-D (or pass it as an argument)",
        );
    }
    let mut text = String::new();
    stdin
        .lock()
        .read_to_string(&mut text)
        .map_err(|e| usage(format!("cannot read the prompt from stdin: {e}")))?;
    Ok(text)
}

/// The conversation alone (`tokens`, and the start of every chat): messages, images, model
/// and tools.
pub fn conversation(c: &Conversation) -> Result<ChatRequest, Error> {
    let mut messages = Vec::new();
    if let Some(system) = &c.system {
        messages.push(Message::system(system.clone()));
    }
    if let Some(path) = &c.messages {
        let file = json::messages(&read_json("--messages", path)?)
            .map_err(|e| usage(format!("--messages {}: {e}", path.display())))?;
        messages.extend(file);
    }
    let prompt = if !c.prompt.is_empty() {
        Some(c.prompt.join(" "))
    } else if c.messages.is_none() {
        Some(prompt_from_stdin()?)
    } else {
        None
    };
    if let Some(p) = prompt.filter(|p| !p.trim().is_empty()) {
        messages.push(Message::user(p));
    }
    if messages.iter().all(|m| m.role == Role::System) {
        return Err(usage(match &c.messages {
            Some(path) => format!(
                "--messages {} holds only system messages and no prompt was given: add a user message to the file or pass a prompt",
                path.display()
            ),
            None => "no prompt: pass it as an argument, on stdin, or with --messages".into(),
        }));
    }
    images::attach(&mut messages, &c.image)?;
    let mut request = ChatRequest::new(messages);
    request.model = c.model.clone();
    if let Some(path) = &c.tools {
        request.tools = json::tools(&read_json("--tools", path)?)
            .map_err(|e| usage(format!("--tools {}: {e}", path.display())))?;
    }
    Ok(request)
}

/// The whole request of a `chat`.
pub fn build(args: &ChatArgs) -> Result<ChatRequest, Error> {
    let mut request = conversation(&args.conversation)?;
    request.sampling = Sampling {
        temperature: args.temperature,
        top_p: args.top_p,
        top_k: args.top_k,
        min_p: args.min_p,
        max_tokens: (args.max_tokens > 0).then_some(args.max_tokens),
        stop: args.stop.clone(),
        seed: args.seed,
        presence_penalty: args.presence_penalty,
        frequency_penalty: args.frequency_penalty,
        repetition_penalty: args.repetition_penalty,
    };
    request.tool_choice = args.tool_choice.as_deref().map(|c| match c {
        "auto" => ToolChoice::Auto,
        "required" => ToolChoice::Required,
        "none" => ToolChoice::None,
        name => ToolChoice::Named(name.to_string()),
    });
    request.parallel_tool_calls = args.parallel_tool_calls();
    request.recover_tool_calls = args.no_recover_tool_calls.then_some(false);
    request.split_reasoning = args.no_split_reasoning.then_some(false);
    request.extra_body = args.extra_body.clone();
    request.response_format = response_format(args)?;
    request.logprobs = args.logprobs;
    request.session_id = args.session_id.clone();
    request.cache_salt = args.cache_salt.clone();
    scheduling(args, &mut request);
    Ok(request)
}

/// `--priority` and `--request-id`: set on a new request, and replacing a resumed one's.
pub fn scheduling(args: &ChatArgs, request: &mut ChatRequest) {
    if args.priority.is_some() {
        request.priority = args.priority;
    }
    if args.request_id.is_some() {
        request.request_id = args.request_id.clone();
    }
}

fn response_format(args: &ChatArgs) -> Result<Option<ResponseFormat>, Error> {
    Ok(if args.json_object {
        Some(ResponseFormat::JsonObject)
    } else if let Some(path) = &args.json_schema {
        let schema = read_json("--json-schema", path)?;
        // OpenAI requires a name of `[a-zA-Z0-9_-]+`: the file's, made to fit.
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
        Some(ResponseFormat::Grammar(read_text("--grammar", path)?))
    } else {
        None
    })
}
