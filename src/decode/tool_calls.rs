//! Tool calls: the AIOS name mapping (`/` travels as `__`), and reading the arguments of a
//! call into JSON object text — or keeping the call as invalid, never dropping it.

use crate::types::{InvalidToolCall, ToolCall, ToolDefinition};
use crate::wire::bounded::{Kind, kind};

/// The offered tools' names as the caller knows them and as they travel on the wire.
#[derive(Clone, Debug, Default)]
pub struct ToolNames {
    /// (wire name, caller's name)
    names: Vec<(String, String)>,
}

impl ToolNames {
    pub fn new(tools: &[ToolDefinition]) -> ToolNames {
        ToolNames {
            names: tools
                .iter()
                .map(|t| (to_wire(&t.name), t.name.clone()))
                .collect(),
        }
    }

    /// True when the request offered tools.
    pub fn offered(&self) -> bool {
        !self.names.is_empty()
    }

    /// The caller's name for a name the server returned (wire or original spelling), if it
    /// is one of the offered tools.
    pub fn lookup(&self, returned: &str) -> Option<&str> {
        self.names
            .iter()
            .find(|(wire, original)| wire == returned || original == returned)
            .map(|(_, original)| original.as_str())
    }

    /// The caller's name when offered, else the returned name unchanged.
    pub fn to_caller(&self, returned: &str) -> String {
        self.lookup(returned).unwrap_or(returned).to_string()
    }
}

/// AIOS sends tool names with `/` replaced by `__` (OpenAI names allow `[a-zA-Z0-9_-]`).
pub fn to_wire(name: &str) -> String {
    name.replace('/', "__")
}

/// Source of ids for calls that arrived without one.
pub trait IdSource {
    fn next_id(&mut self) -> String;
}

/// Deterministic ids (`call_0`, `call_1`, ...) for tests and for reproducible output.
#[derive(Default)]
pub struct CountingIds(pub u32);

impl IdSource for CountingIds {
    fn next_id(&mut self) -> String {
        self.0 += 1;
        format!("call_{}", self.0 - 1)
    }
}

/// A call as the server sent it, before decoding.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawToolCall {
    pub id: Option<String>,
    pub name: Option<String>,
    /// The arguments' JSON text (the string's content when the server sent a string; the
    /// serialized value when it sent an object); `None` when absent.
    pub arguments: Option<String>,
}

/// A decoded call: usable, or kept as invalid.
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded {
    Valid(ToolCall),
    Invalid(InvalidToolCall),
}

/// Decodes one raw call.
///
/// Arguments rules (documented in the README): absent or empty means `{}`; a JSON object is
/// used as is; a JSON *string* holding an object is unwrapped; an object followed by a
/// duplicate of its own tail (vLLM#51697) is cut to the object; anything else — invalid
/// JSON, `null`, arrays, numbers — makes the call invalid, keeping the raw text.
pub fn decode(raw: RawToolCall, names: &ToolNames, ids: &mut dyn IdSource) -> Decoded {
    let id = raw
        .id
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| ids.next_id());
    let name = names.to_caller(raw.name.as_deref().unwrap_or_default());
    let raw_text = raw.arguments.unwrap_or_default();
    if name.is_empty() {
        return Decoded::Invalid(InvalidToolCall {
            id,
            name,
            raw_arguments: raw_text,
            error: "the server sent a tool call without a name".into(),
        });
    }
    match arguments_object(&raw_text) {
        Ok(arguments) => Decoded::Valid(ToolCall {
            id,
            name,
            arguments,
        }),
        Err(error) => Decoded::Invalid(InvalidToolCall {
            id,
            name,
            raw_arguments: raw_text,
            error,
        }),
    }
}

/// Reads argument text into the JSON text of an object.
pub fn arguments_object(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok("{}".into());
    }
    // The kind is told without building a tree: arguments can be as big as the answer.
    match kind(trimmed) {
        Ok(Kind::Object) => Ok(trimmed.to_string()),
        Ok(Kind::String(inner)) => match kind(&inner) {
            Ok(Kind::Object) => Ok(inner.trim().to_string()),
            _ => Err(format!(
                "arguments are a JSON string, not an object: {}",
                preview(trimmed)
            )),
        },
        Ok(Kind::Null) => Err("arguments are null, not a JSON object".into()),
        Ok(other) => Err(format!(
            "arguments are a JSON {}, not an object",
            other.name()
        )),
        Err(parse_error) => repair_duplicated_tail(trimmed)
            .map(str::to_string)
            .ok_or_else(|| {
                format!(
                    "arguments are not valid JSON ({parse_error}): {}",
                    preview(trimmed)
                )
            }),
    }
}

/// vLLM#51697: the last argument fragment of a stream is sometimes sent twice, giving
/// `{"a":1}` + `1}` or `{"a":1}{"a":1}`. Accept the leading object when what follows it is
/// a repeat of its own tail.
fn repair_duplicated_tail(text: &str) -> Option<&str> {
    let mut values = serde_json::Deserializer::from_slice(text.as_bytes()).into_iter::<Kind>();
    let first = values.next()?.ok()?;
    let end = values.byte_offset();
    let (head, rest) = text.split_at(end);
    let rest = rest.trim();
    (first == Kind::Object && !rest.is_empty() && head.ends_with(rest)).then_some(head)
}

fn preview(text: &str) -> String {
    let cut = crate::errors::truncate(text, 120);
    if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> ToolNames {
        ToolNames::new(&[ToolDefinition {
            name: "fs/read".into(),
            description: None,
            parameters: None,
        }])
    }

    fn raw(name: &str, args: Option<&str>) -> RawToolCall {
        RawToolCall {
            id: Some("c1".into()),
            name: Some(name.into()),
            arguments: args.map(Into::into),
        }
    }

    #[test]
    fn names_round_trip_through_the_wire_form() {
        let n = names();
        assert_eq!(to_wire("fs/read"), "fs__read");
        assert_eq!(n.to_caller("fs__read"), "fs/read");
        assert_eq!(n.to_caller("fs/read"), "fs/read");
        assert_eq!(n.to_caller("other"), "other");
        assert!(n.lookup("other").is_none());
    }

    #[test]
    fn argument_shapes() {
        assert_eq!(arguments_object(r#" {"a": 1} "#).unwrap(), r#"{"a": 1}"#);
        assert_eq!(arguments_object("").unwrap(), "{}");
        assert_eq!(arguments_object(r#""{\"a\":1}""#).unwrap(), r#"{"a":1}"#);
        assert_eq!(arguments_object(r#"{"a":1}{"a":1}"#).unwrap(), r#"{"a":1}"#);
        assert_eq!(
            arguments_object(r#"{"city":"Paris"}"}"#).unwrap(),
            r#"{"city":"Paris"}"#
        );
        assert!(arguments_object("null").unwrap_err().contains("null"));
        assert!(arguments_object("[1]").unwrap_err().contains("array"));
        assert!(
            arguments_object(r#""just text""#)
                .unwrap_err()
                .contains("JSON string")
        );
        assert!(
            arguments_object(r#"{"a":"#)
                .unwrap_err()
                .contains("not valid JSON")
        );
        // A different object after the first is not a duplicate: refuse rather than guess.
        assert!(arguments_object(r#"{"a":1}{"b":2}"#).is_err());
    }

    #[test]
    fn decode_keeps_invalid_calls_and_generates_ids() {
        let mut ids = CountingIds::default();
        let d = decode(
            raw("fs__read", Some(r#"{"path":"/x"}"#)),
            &names(),
            &mut ids,
        );
        assert_eq!(
            d,
            Decoded::Valid(ToolCall {
                id: "c1".into(),
                name: "fs/read".into(),
                arguments: r#"{"path":"/x"}"#.into()
            })
        );
        let d = decode(
            RawToolCall {
                id: Some(String::new()),
                ..raw("fs__read", Some("null"))
            },
            &names(),
            &mut ids,
        );
        match d {
            Decoded::Invalid(c) => {
                assert_eq!(
                    (c.id.as_str(), c.name.as_str(), c.raw_arguments.as_str()),
                    ("call_0", "fs/read", "null")
                );
                assert!(c.error.contains("null"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode(raw("", Some("{}")), &names(), &mut ids),
            Decoded::Invalid(_)
        ));
    }
}
