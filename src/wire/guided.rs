//! Output constraints (`response-format`) as each server family's request fields: OpenAI
//! `response_format` for JSON; vLLM `structured_outputs` (or the legacy `guided_*`), SGLang
//! `regex`/`ebnf`, llama.cpp GBNF `grammar` for regex, choice and grammar. A constraint a
//! dialect cannot express is refused before anything is sent.

use crate::config::Backend;
use crate::constraints::gbnf;
use crate::types::{BackendKind, Error, ResponseFormat};
use crate::wire::request::json_object;
use serde_json::{Map, Value, json};

/// Maps an output constraint to the fields of the backend's dialect.
pub fn constraint(
    body: &mut Map<String, Value>,
    format: &ResponseFormat,
    backend: &Backend,
    has_tools: bool,
) -> Result<(), Error> {
    let kind = backend.kind;
    let legacy = backend.legacy_guided_decoding;
    let refuse = |what: &str, why: &str| {
        Err(Error::invalid_request(format!(
            "backend `{}` cannot take {what}: {why}",
            backend.name
        )))
    };
    let grammar_with_tools = |what: &str| {
        refuse(
            what,
            "llama.cpp refuses custom grammar constraints together with tools; send them in separate requests",
        )
    };
    match format {
        ResponseFormat::Text => {}
        ResponseFormat::JsonObject => {
            body.insert("response_format".into(), json!({"type": "json_object"}));
        }
        ResponseFormat::JsonSchema(s) => {
            let schema = Value::Object(
                json_object(&s.schema)
                    .map_err(|why| Error::invalid_request(format!("json-schema schema {why}")))?,
            );
            let mut js = Map::new();
            js.insert("name".into(), s.name.clone().into());
            if let Some(d) = &s.description {
                js.insert("description".into(), d.clone().into());
            }
            js.insert("schema".into(), schema);
            if let Some(strict) = s.strict {
                js.insert("strict".into(), strict.into());
            }
            body.insert(
                "response_format".into(),
                json!({"type": "json_schema", "json_schema": js}),
            );
        }
        ResponseFormat::Regex(re) => match kind {
            BackendKind::Vllm => vllm_guided(body, legacy, "regex", re.clone().into()),
            BackendKind::Sglang => {
                body.insert("regex".into(), re.clone().into());
            }
            BackendKind::OpenaiCompatible | BackendKind::Auto => {
                if has_tools {
                    return grammar_with_tools("a regex");
                }
                let grammar = gbnf::from_regex(re).map_err(|why| {
                    Error::invalid_request(format!(
                        "regex cannot be turned into a llama.cpp grammar: {why}"
                    ))
                })?;
                body.insert("grammar".into(), grammar.into());
            }
        },
        ResponseFormat::Choice(choices) => match kind {
            BackendKind::Vllm => vllm_guided(body, legacy, "choice", choices.clone().into()),
            BackendKind::Sglang => {
                let re = gbnf::regex_for_choice(choices).map_err(Error::invalid_request)?;
                body.insert("regex".into(), re.into());
            }
            BackendKind::OpenaiCompatible | BackendKind::Auto => {
                if has_tools {
                    return grammar_with_tools("a choice list");
                }
                body.insert(
                    "grammar".into(),
                    gbnf::from_choice(choices)
                        .map_err(Error::invalid_request)?
                        .into(),
                );
            }
        },
        ResponseFormat::Grammar(g) => match kind {
            BackendKind::Vllm => vllm_guided(body, legacy, "grammar", g.clone().into()),
            BackendKind::Sglang => {
                body.insert("ebnf".into(), g.clone().into());
            }
            BackendKind::OpenaiCompatible | BackendKind::Auto => {
                if has_tools {
                    return grammar_with_tools("a grammar");
                }
                body.insert("grammar".into(), g.clone().into());
            }
        },
    }
    Ok(())
}

/// vLLM >= 0.12: `structured_outputs: {kind: value}`; before: top-level `guided_<kind>`.
fn vllm_guided(body: &mut Map<String, Value>, legacy: bool, kind: &str, value: Value) {
    if legacy {
        body.insert(format!("guided_{kind}"), value);
    } else {
        let mut so = Map::new();
        so.insert(kind.into(), value);
        body.insert("structured_outputs".into(), Value::Object(so));
    }
}
