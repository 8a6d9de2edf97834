//! Recovery of tool calls a model wrote as text because the server had no (or the wrong)
//! tool parser. Formats: Hermes/Qwen `<tool_call>{json}</tool_call>`, Qwen3-Coder
//! `<tool_call><function=N><parameter=K>V</parameter></function></tool_call>`, Llama 3
//! `<|python_tag|>{json}` and bare `{"name":..,"parameters":..}` objects or lists, Mistral
//! `[TOOL_CALLS][{json},..]`, `[TOOL_CALLS]name{json}` and `[TOOL_CALLS]name[ARGS]{json}`.
//!
//! Only calls naming an offered tool are taken; if any call in a block names something else,
//! the block stays text. Text that merely mentions a tool is never a call.

use crate::decode::tool_calls::{RawToolCall, ToolNames};
use serde_json::{Map, Value};

/// Calls found in `content`, and the content with them removed (trimmed).
/// `None` when no complete, acceptable call is found (the content then stays as it is).
/// Content longer than this is not searched for calls written as text (a model's calls are
/// small; a huge answer is text, and parsing it as JSON would cost memory it can exhaust).
pub const MAX_SCANNED: usize = 1 << 20;

pub fn recover(content: &str, names: &ToolNames) -> Option<(Vec<RawToolCall>, String)> {
    if !names.offered() {
        return None;
    }
    hermes(content, names)
        .or_else(|| mistral(content, names))
        .or_else(|| python_tag(content, names))
        .or_else(|| bare_json(content, names))
}

const TOOL_OPEN: &str = "<tool_call>";
const TOOL_CLOSE: &str = "</tool_call>";

/// `<tool_call>` blocks holding JSON (Hermes, Qwen 2.5) or XML-ish functions (Qwen3-Coder).
fn hermes(content: &str, names: &ToolNames) -> Option<(Vec<RawToolCall>, String)> {
    let mut calls = Vec::new();
    let mut rest = String::new();
    let mut cursor = 0;
    while let Some(found) = content[cursor..].find(TOOL_OPEN) {
        let open = cursor + found;
        rest.push_str(&content[cursor..open]);
        let body_start = open + TOOL_OPEN.len();
        // A missing close tag at the very end is common when generation stops on it.
        let (body, next) = match content[body_start..].find(TOOL_CLOSE) {
            Some(end) => (
                &content[body_start..body_start + end],
                body_start + end + TOOL_CLOSE.len(),
            ),
            None => (&content[body_start..], content.len()),
        };
        let body = body.trim();
        let parsed = if body.starts_with("<function=") {
            qwen_xml(body).map(|c| vec![c])
        } else {
            json_calls(body)
                .filter(|(_, used)| body[*used..].trim().is_empty())
                .map(|(c, _)| c)
        };
        calls.extend(parsed?);
        cursor = next;
    }
    rest.push_str(&content[cursor..]);
    accept(calls, rest, names)
}

/// `<function=NAME><parameter=K>V</parameter>...</function>`; values that parse as JSON
/// (numbers, booleans, objects) keep their type, everything else is a string.
fn qwen_xml(body: &str) -> Option<RawToolCall> {
    let after = body.strip_prefix("<function=")?;
    let name_end = after.find('>')?;
    let name = after[..name_end].trim().to_string();
    let mut inner = &after[name_end + 1..];
    if let Some(end) = inner.find("</function>") {
        inner = &inner[..end];
    }
    let mut args = Map::new();
    while let Some(p) = inner.find("<parameter=") {
        let after_p = &inner[p + "<parameter=".len()..];
        let key_end = after_p.find('>')?;
        let key = after_p[..key_end].trim().to_string();
        let value_and_rest = &after_p[key_end + 1..];
        let value_end = value_and_rest
            .find("</parameter>")
            .unwrap_or(value_and_rest.len());
        let raw = value_and_rest[..value_end].trim_matches('\n');
        let value = match serde_json::from_slice::<Value>(raw.trim().as_bytes()) {
            Ok(
                v @ (Value::Number(_)
                | Value::Bool(_)
                | Value::Object(_)
                | Value::Array(_)
                | Value::Null),
            ) => v,
            _ => Value::String(raw.to_string()),
        };
        args.insert(key, value);
        inner = &value_and_rest[(value_end + "</parameter>".len()).min(value_and_rest.len())..];
    }
    Some(RawToolCall {
        id: None,
        name: Some(name),
        arguments: Some(Value::Object(args).to_string()),
    })
}

/// `[TOOL_CALLS][{..}]`, `[TOOL_CALLS]name{..}` or `[TOOL_CALLS]name[ARGS]{..}` (repeatable).
fn mistral(content: &str, names: &ToolNames) -> Option<(Vec<RawToolCall>, String)> {
    const MARK: &str = "[TOOL_CALLS]";
    let start = content.find(MARK)?;
    let mut calls = Vec::new();
    let mut text = &content[start..];
    while let Some(after) = text.strip_prefix(MARK) {
        let after = after.trim_start();
        if after.starts_with('[') || after.starts_with('{') {
            let (found, used) = json_calls(after)?;
            calls.extend(found);
            text = after[used..].trim_start();
        } else {
            let name_end = after.find(['{', '['])?;
            let name = after[..name_end].trim();
            let mut args_text = &after[name_end..];
            if let Some(a) = args_text.strip_prefix("[ARGS]") {
                args_text = a;
            }
            let (value, used) = first_json(args_text)?;
            calls.push(RawToolCall {
                id: None,
                name: Some(name.to_string()),
                arguments: Some(value.to_string()),
            });
            text = args_text[used..].trim_start();
        }
    }
    let rest = format!("{}{}", &content[..start], text);
    accept(calls, rest, names)
}

/// Llama 3.x `<|python_tag|>{..}` (several may follow, separated by `;`).
fn python_tag(content: &str, names: &ToolNames) -> Option<(Vec<RawToolCall>, String)> {
    const MARK: &str = "<|python_tag|>";
    let start = content.find(MARK)?;
    let mut text = content[start + MARK.len()..].trim_start();
    let mut calls = Vec::new();
    while text.starts_with('{') || text.starts_with('[') {
        let (found, used) = json_calls(text)?;
        calls.extend(found);
        text = text[used..]
            .trim_start()
            .trim_start_matches(';')
            .trim_start();
    }
    let text = text.strip_prefix("<|eom_id|>").unwrap_or(text);
    accept(calls, format!("{}{}", &content[..start], text), names)
}

/// The whole content (optionally in a code fence) is one call object or a list of them.
fn bare_json(content: &str, names: &ToolNames) -> Option<(Vec<RawToolCall>, String)> {
    let body = crate::decode::json_output::strip_fence(content.trim());
    if !(body.starts_with('{') || body.starts_with('[')) {
        return None;
    }
    let (calls, used) = json_calls(body)?;
    if !body[used..].trim().is_empty() {
        return None;
    }
    accept(calls, String::new(), names)
}

/// Reads one JSON value at the start of `text` that is a call object or a list of them;
/// returns the calls and the bytes used.
fn json_calls(text: &str) -> Option<(Vec<RawToolCall>, usize)> {
    let (value, used) = first_json(text)?;
    let calls = match value {
        Value::Array(items) => items
            .into_iter()
            .map(call_from_json)
            .collect::<Option<Vec<_>>>()?,
        object @ Value::Object(_) => vec![call_from_json(object)?],
        _ => return None,
    };
    (!calls.is_empty()).then_some((calls, used))
}

fn first_json(text: &str) -> Option<(Value, usize)> {
    let mut stream = serde_json::Deserializer::from_slice(text.as_bytes()).into_iter::<Value>();
    let value = stream.next()?.ok()?;
    Some((value, stream.byte_offset()))
}

/// `{"name": N, "arguments"|"parameters": A}` in the spellings models use (AIOS accepts
/// `function_name` / `tool_name` too; OpenAI-style `{"function": {...}}` also occurs).
fn call_from_json(value: Value) -> Option<RawToolCall> {
    let Value::Object(mut obj) = value else {
        return None;
    };
    if let Some(Value::Object(function)) = obj.remove("function") {
        let id = obj
            .remove("id")
            .and_then(|v| v.as_str().map(str::to_string));
        let mut call = call_from_json(Value::Object(function))?;
        call.id = call.id.or(id);
        return Some(call);
    }
    let name = ["name", "function_name", "tool_name"]
        .iter()
        .find_map(|k| obj.get(*k).and_then(Value::as_str).map(str::to_string))?;
    let arguments = ["arguments", "parameters", "args"]
        .iter()
        .find_map(|k| obj.remove(*k));
    let arguments = match arguments {
        Some(Value::String(s)) => s,
        Some(v) => v.to_string(),
        None => "{}".to_string(),
    };
    let id = obj.get("id").and_then(Value::as_str).map(str::to_string);
    Some(RawToolCall {
        id,
        name: Some(name),
        arguments: Some(arguments),
    })
}

fn accept(
    calls: Vec<RawToolCall>,
    rest: String,
    names: &ToolNames,
) -> Option<(Vec<RawToolCall>, String)> {
    if calls.is_empty()
        || !calls
            .iter()
            .all(|c| c.name.as_deref().is_some_and(|n| names.lookup(n).is_some()))
    {
        return None;
    }
    Some((calls, rest.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ToolDefinition;

    fn names() -> ToolNames {
        let t = |n: &str| ToolDefinition {
            name: n.into(),
            description: None,
            parameters: None,
        };
        ToolNames::new(&[t("get_weather"), t("fs/read")])
    }

    fn found(content: &str) -> (Vec<(String, String)>, String) {
        let (calls, rest) = recover(content, &names())
            .unwrap_or_else(|| panic!("nothing recovered from {content:?}"));
        let calls = calls
            .into_iter()
            .map(|c| {
                let args: Value = serde_json::from_str(c.arguments.as_deref().unwrap()).unwrap();
                (c.name.unwrap(), args.to_string())
            })
            .collect();
        (calls, rest)
    }

    #[test]
    fn hermes_one_and_many() {
        let (calls, rest) = found(
            "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
        );
        assert_eq!(
            calls,
            vec![("get_weather".into(), r#"{"city":"Paris"}"#.into())]
        );
        assert_eq!(rest, "Let me check.");
        let (calls, rest) = found(
            "<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"A\"}}</tool_call>\n<tool_call>{\"name\":\"fs__read\",\"arguments\":\"{\\\"path\\\":\\\"/x\\\"}\"}</tool_call>",
        );
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1], ("fs__read".into(), r#"{"path":"/x"}"#.into()));
        assert_eq!(rest, "");
        // Unclosed final block (generation stopped on the tag).
        let (calls, _) = found("<tool_call>{\"name\":\"get_weather\",\"arguments\":{}}");
        assert_eq!(calls.len(), 1);
    }

    #[test]
    fn qwen3_coder_xml() {
        let (calls, rest) = found(
            "<tool_call>\n<function=get_weather>\n<parameter=city>\nNew York\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>",
        );
        assert_eq!(
            calls,
            vec![(
                "get_weather".into(),
                r#"{"city":"New York","days":3}"#.into()
            )]
        );
        assert_eq!(rest, "");
    }

    #[test]
    fn llama3_python_tag_and_bare_json() {
        let (calls, _) = found(
            "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}<|eom_id|>",
        );
        assert_eq!(
            calls,
            vec![("get_weather".into(), r#"{"city":"Oslo"}"#.into())]
        );
        let (calls, _) = found(
            "{\"type\": \"function\", \"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}",
        );
        assert_eq!(calls[0].1, r#"{"city":"Rome"}"#);
        let (calls, _) = found(
            "```json\n[{\"name\":\"get_weather\",\"parameters\":{}},{\"function_name\":\"fs/read\",\"arguments\":{\"path\":\"a\"}}]\n```",
        );
        assert_eq!(calls.len(), 2);
        let (calls, _) = found(
            "{\"function\": {\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\":\\\"B\\\"}\"}}",
        );
        assert_eq!(calls[0].1, r#"{"city":"B"}"#);
    }

    #[test]
    fn mistral_forms() {
        let (calls, rest) =
            found("[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Lyon\"}}]");
        assert_eq!((calls[0].0.as_str(), rest.as_str()), ("get_weather", ""));
        let (calls, _) = found("[TOOL_CALLS]get_weather{\"city\": \"Nice\"}");
        assert_eq!(
            calls,
            vec![("get_weather".into(), r#"{"city":"Nice"}"#.into())]
        );
        let (calls, _) = found(
            "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Metz\"}[TOOL_CALLS]fs/read[ARGS]{\"path\":\"p\"}",
        );
        assert_eq!(calls.len(), 2);
    }

    #[test]
    fn mentions_and_unknown_tools_stay_text() {
        let n = names();
        for text in [
            "You could call get_weather with {\"city\": \"Paris\"}.",
            "<tool_call>{\"name\": \"rm_rf\", \"arguments\": {}}</tool_call>",
            "{\"name\": \"get_weather\", \"arguments\": {}} and then some prose",
            "{\"city\": \"Paris\"}",
            "[TOOL_CALLS]",
            "<tool_call>not json</tool_call>",
            "",
        ] {
            assert!(recover(text, &n).is_none(), "{text:?}");
        }
        assert!(
            recover(
                "<tool_call>{\"name\":\"get_weather\"}</tool_call>",
                &ToolNames::default()
            )
            .is_none()
        );
    }
}
