//! Checkpoint files: a suspended generation (the WIT `checkpoint`: the request and what was
//! generated) as one JSON object, `{"type":"checkpoint","version":1,"request":{...},
//! "generated":{...}}`. The same object is the last line of `chat --json` when a stream is
//! suspended, so that line saved to a file resumes too. Reading it back gives the same
//! checkpoint, field for field (tested), so `--resume` continues exactly what was stopped,
//! in this process or another.

use crate::request_json::RequestJson;
use llm_core_host::types::*;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// The format's version; a file of another version is refused rather than misread.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct CheckpointJson {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    request: RequestJson,
    generated: GeneratedJson,
}

/// The WIT `generated` record (also a request's `continue_from`).
#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct GeneratedJson {
    content: String,
    reasoning: String,
    usage: Option<UsageJson>,
    #[serde(default)]
    backends: Vec<String>,
    attempts: u32,
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct UsageJson {
    prompt_tokens: u32,
    completion_tokens: u32,
    total_tokens: u32,
    reasoning_tokens: Option<u32>,
    cached_tokens: Option<u32>,
}

impl From<&Generated> for GeneratedJson {
    fn from(g: &Generated) -> GeneratedJson {
        GeneratedJson {
            content: g.content.clone(),
            reasoning: g.reasoning.clone(),
            usage: g.usage.map(|u| UsageJson {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
                total_tokens: u.total_tokens,
                reasoning_tokens: u.reasoning_tokens,
                cached_tokens: u.cached_tokens,
            }),
            backends: g.backends.clone(),
            attempts: g.attempts,
        }
    }
}

impl From<GeneratedJson> for Generated {
    fn from(g: GeneratedJson) -> Generated {
        Generated {
            content: g.content,
            reasoning: g.reasoning,
            usage: g.usage.map(|u| Usage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
                total_tokens: u.total_tokens,
                reasoning_tokens: u.reasoning_tokens,
                cached_tokens: u.cached_tokens,
            }),
            backends: g.backends,
            attempts: g.attempts,
        }
    }
}

/// The checkpoint as one line of JSON.
pub fn to_json(c: &Checkpoint) -> String {
    let file = CheckpointJson {
        kind: "checkpoint".into(),
        version: VERSION,
        request: RequestJson::from(&c.request),
        generated: GeneratedJson::from(&c.generated),
    };
    serde_json::to_string(&file).expect("a checkpoint serialises: strings and numbers only")
}

/// Reads a checkpoint from its JSON text; the error says what is wrong and where.
pub fn from_json(text: &str) -> Result<Checkpoint, String> {
    let file: CheckpointJson = serde_json::from_str(text.trim())
        .map_err(|e| format!("not a checkpoint of llm-core: {e}"))?;
    if file.kind != "checkpoint" {
        return Err(format!(
            "not a checkpoint of llm-core: its \"type\" is `{}`",
            file.kind
        ));
    }
    if file.version != VERSION {
        return Err(format!(
            "a checkpoint of version {}; this llm-core reads version {VERSION}",
            file.version
        ));
    }
    Ok(Checkpoint {
        request: ChatRequest::try_from(file.request).map_err(|e| format!("request.{e}"))?,
        generated: file.generated.into(),
    })
}

/// Writes the checkpoint to `path`: readable by its owner only (it holds the conversation),
/// written whole or not at all (a temporary file renamed into place).
pub fn write(path: &Path, c: &Checkpoint) -> std::io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    let partial = path.with_file_name(name);
    // A leftover from an earlier failure would keep its own permissions.
    let _ = std::fs::remove_file(&partial);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&partial).and_then(|mut f| {
        f.write_all(to_json(c).as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&partial, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Refuses a `--checkpoint` path whose directory does not exist, before the answer starts
/// (when Ctrl-C comes it is too late to ask for another).
pub fn check_writable(path: &Path) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if path.is_dir() || !dir.is_dir() {
        return Err(crate::request::usage(format!(
            "--checkpoint {}: not a file in an existing directory",
            path.display()
        )));
    }
    Ok(())
}

/// Reads the checkpoint file of `--resume`.
pub fn read(path: &Path) -> Result<Checkpoint, Error> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| crate::request::usage(format!("--resume {shown}: cannot read it: {e}")))?;
    from_json(&text).map_err(|e| crate::request::usage(format!("--resume {shown}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkpoint with every field set, each to a value that could be mistaken for another.
    fn everything() -> Checkpoint {
        let generated = Generated {
            content: "The quick \"brown\" ".into(),
            reasoning: "think\u{1F914}\n".into(),
            usage: Some(Usage {
                prompt_tokens: 30,
                completion_tokens: 4,
                total_tokens: 34,
                reasoning_tokens: Some(2),
                cached_tokens: Some(16),
            }),
            backends: vec!["gpu-a".into(), "127.0.0.1:8000".into()],
            attempts: 2,
        };
        let mut with_parts = Message::user("look");
        with_parts.parts = vec![
            ContentPart::Text("and this".into()),
            ContentPart::ImageUrl("https://example.com/a.png".into()),
            ContentPart::Image(ImageData {
                mime_type: "image/png".into(),
                bytes: vec![0x89, b'P', b'N', b'G', 0, 255, 13, 10],
            }),
        ];
        let mut assistant = Message::new(Role::Assistant, "calling");
        assistant.content = None;
        assistant.name = Some("bot".into());
        assistant.tool_calls = vec![ToolCall {
            id: "c1".into(),
            name: "ns/get_weather".into(),
            arguments: r#"{"city": "Paris"}"#.into(),
        }];
        let mut tool = Message::new(Role::Tool, "{\"t\":21}");
        tool.tool_call_id = Some("c1".into());
        let mut request = ChatRequest::new(vec![
            Message::system("Be brief."),
            with_parts,
            assistant,
            tool,
        ]);
        request.model = Some("Qwen/Qwen3-8B".into());
        request.sampling = Sampling {
            temperature: Some(0.1 + 0.2),
            top_p: Some(0.9),
            top_k: Some(-1),
            min_p: Some(1e-300),
            max_tokens: Some(u32::MAX),
            stop: vec!["END".into(), "\n\n".into()],
            seed: Some(i64::MIN),
            presence_penalty: Some(-0.5),
            frequency_penalty: Some(f64::MAX),
            repetition_penalty: Some(1.1),
        };
        request.tools = vec![ToolDefinition {
            name: "ns/get_weather".into(),
            description: Some("Weather".into()),
            parameters: Some(r#"{"type":"object", "properties":{}}"#.into()),
        }];
        request.tool_choice = Some(ToolChoice::Named("ns/get_weather".into()));
        request.parallel_tool_calls = Some(false);
        request.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: "city".into(),
            description: Some("a city".into()),
            schema: r#"{"type": "object"}"#.into(),
            strict: Some(true),
        }));
        request.recover_tool_calls = Some(false);
        request.split_reasoning = Some(false);
        request.extra_body = Some(r#"{"chat_template_kwargs":{"enable_thinking":false}}"#.into());
        request.timeout_ms = Some(30000);
        request.routing_ticket = Some(u64::MAX);
        request.request_id = Some("agent-1-turn-4".into());
        request.priority = Some(i32::MIN);
        request.session_id = Some("agent-1".into());
        request.cache_salt = Some("tenant-a".into());
        request.logprobs = Some(u8::MAX);
        request.continue_from = Some(generated.clone());
        Checkpoint { request, generated }
    }

    #[test]
    fn every_field_round_trips() {
        let c = everything();
        let text = to_json(&c);
        assert!(!text.contains('\n'), "one line: {text}");
        assert_eq!(from_json(&text).unwrap(), c);
        // Every output format, every tool choice.
        let formats = [
            ResponseFormat::Text,
            ResponseFormat::JsonObject,
            ResponseFormat::Regex("[0-9]+".into()),
            ResponseFormat::Choice(vec!["yes".into(), "no".into()]),
            ResponseFormat::Grammar("root ::= \"a\"".into()),
        ];
        let choices = [ToolChoice::None, ToolChoice::Auto, ToolChoice::Required];
        for (format, choice) in formats.into_iter().zip(choices.into_iter().cycle()) {
            let mut c = everything();
            c.request.response_format = Some(format);
            c.request.tool_choice = Some(choice);
            assert_eq!(from_json(&to_json(&c)).unwrap(), c);
        }
        // The least a request can be.
        let bare = Checkpoint {
            request: ChatRequest::user("hi"),
            generated: Generated {
                content: String::new(),
                reasoning: String::new(),
                usage: None,
                backends: Vec::new(),
                attempts: 0,
            },
        };
        assert_eq!(from_json(&to_json(&bare)).unwrap(), bare);
    }

    #[test]
    fn numbers_come_back_to_the_bit() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            // xorshift: finite doubles of every magnitude.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let x = f64::from_bits(state);
            if !x.is_finite() {
                continue;
            }
            let mut c = everything();
            c.request.sampling.temperature = Some(x);
            let back = from_json(&to_json(&c)).unwrap();
            assert_eq!(
                back.request.sampling.temperature.map(f64::to_bits),
                Some(x.to_bits())
            );
        }
    }

    #[test]
    fn files_of_other_kinds_and_versions_are_refused() {
        let text = to_json(&everything());
        let other = text.replacen("\"checkpoint\"", "\"done\"", 1);
        assert!(
            from_json(&other)
                .unwrap_err()
                .contains("\"type\" is `done`")
        );
        let newer = text.replacen("\"version\":1", "\"version\":2", 1);
        assert!(from_json(&newer).unwrap_err().contains("version 2"));
        let unknown = text.replacen("\"version\":1", "\"version\":1,\"extra\":0", 1);
        assert!(from_json(&unknown).unwrap_err().contains("unknown field"));
        assert!(from_json("[]").is_err());
        let bad_image = text.replacen("iVBORwD/DQo=", "***", 1);
        assert_ne!(bad_image, text);
        let e = from_json(&bad_image).unwrap_err();
        assert!(e.starts_with("request.messages[1]: parts[2]"), "{e}");
    }

    #[test]
    fn written_files_read_back_and_are_private() {
        let dir = std::env::temp_dir().join(format!("llm-core-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.json");
        write(&path, &everything()).unwrap();
        assert_eq!(read(&path).unwrap(), everything());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!dir.join("c.json.partial").exists());
        assert!(check_writable(&path).is_ok() && check_writable(Path::new("here.json")).is_ok());
        assert!(check_writable(&dir).is_err());
        assert!(check_writable(&dir.join("no/such/dir.json")).is_err());
        let e = read(&dir.join("missing.json")).unwrap_err();
        assert!(e.message.starts_with("--resume "), "{}", e.message);
        std::fs::remove_dir_all(&dir).ok();
    }
}
