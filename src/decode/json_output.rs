//! JSON output: when JSON was asked for, the content must parse (a Markdown code fence
//! around it is removed) and, for `json-schema`, follow the schema's common keywords.

use serde_json::Value;

/// Removes a surrounding ```` ``` ```` or ```` ```json ```` fence, if the text is fenced.
pub fn strip_fence(text: &str) -> &str {
    let t = text.trim();
    let Some(inner) = t.strip_prefix("```") else {
        return t;
    };
    let Some(inner) = inner.strip_suffix("```") else {
        return t;
    };
    // Drop the info string (`json`, `JSON`, ...) on the opening line.
    match inner.find('\n') {
        Some(nl) if inner[..nl].chars().all(|c| c.is_ascii_alphanumeric()) => {
            inner[nl + 1..].trim()
        }
        _ => inner.trim(),
    }
}

/// Answers longer than this are checked for JSON syntax only, not against the schema: the
/// schema check needs the parsed tree, which can take ten times the text's memory.
pub const MAX_SCHEMA_CHECKED: usize = 1 << 20;

/// The JSON text in `content`, checked to parse; with it the parsed value when the text is
/// at most [`MAX_SCHEMA_CHECKED`] bytes. The error says why it is not JSON.
pub fn extract(content: &str) -> Result<(String, Option<Value>), String> {
    let body = strip_fence(content);
    if body.is_empty() {
        return Err("the answer is empty, not JSON".into());
    }
    let parsed = if body.len() <= MAX_SCHEMA_CHECKED {
        serde_json::from_slice::<Value>(body.as_bytes()).map(Some)
    } else {
        serde_json::from_slice::<serde::de::IgnoredAny>(body.as_bytes()).map(|_| None)
    };
    match parsed {
        Ok(v) => Ok((body.to_string(), v)),
        Err(e) => Err(format!("the answer is not valid JSON ({e})")),
    }
}

/// Checks `value` against the common JSON Schema keywords: `type`, `properties`, `required`,
/// `additionalProperties: false`, `items`, `enum`, `const`, `minItems`/`maxItems`,
/// `minLength`/`maxLength`, `minimum`/`maximum`, `anyOf`/`oneOf`. Other keywords (`$ref`,
/// `pattern`, `format`, ...) are not checked. Returns the first violation with its path.
pub fn check_schema(value: &Value, schema: &Value) -> Result<(), String> {
    check(value, schema, "$")
}

fn check(value: &Value, schema: &Value, path: &str) -> Result<(), String> {
    let Value::Object(s) = schema else {
        return Ok(());
    };
    if let Some(t) = s.get("type") {
        let allowed: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !allowed.is_empty() && !allowed.iter().any(|t| has_type(value, t)) {
            return Err(format!(
                "{path}: expected {}, got {}",
                allowed.join(" or "),
                type_name(value)
            ));
        }
    }
    if let Some(Value::Array(options)) = s.get("enum")
        && !options.contains(value)
    {
        return Err(format!("{path}: {value} is not one of the allowed values"));
    }
    if let Some(c) = s.get("const")
        && c != value
    {
        return Err(format!("{path}: expected {c}, got {value}"));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = s.get(key)
            && !options.is_empty()
            && !options.iter().any(|o| check(value, o, path).is_ok())
        {
            return Err(format!("{path}: matches none of the {key} alternatives"));
        }
    }
    match value {
        Value::Object(obj) => {
            if let Some(Value::Array(required)) = s.get("required") {
                for r in required.iter().filter_map(Value::as_str) {
                    if !obj.contains_key(r) {
                        return Err(format!("{path}: missing required property `{r}`"));
                    }
                }
            }
            let props = s.get("properties").and_then(Value::as_object);
            for (k, v) in obj {
                match props.and_then(|p| p.get(k)) {
                    Some(sub) => check(v, sub, &format!("{path}.{k}"))?,
                    None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        return Err(format!("{path}: unexpected property `{k}`"));
                    }
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            bound(s, "minItems", items.len(), |n, len| len >= n, path, "items")?;
            bound(s, "maxItems", items.len(), |n, len| len <= n, path, "items")?;
            if let Some(item_schema) = s.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item, item_schema, &format!("{path}[{i}]"))?;
                }
            }
        }
        Value::String(text) => {
            let len = text.chars().count();
            bound(s, "minLength", len, |n, len| len >= n, path, "characters")?;
            bound(s, "maxLength", len, |n, len| len <= n, path, "characters")?;
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if let Some(min) = s.get("minimum").and_then(Value::as_f64)
                && x < min
            {
                return Err(format!(
                    "{path}: {} is below the minimum {}",
                    number(x),
                    number(min)
                ));
            }
            if let Some(max) = s.get("maximum").and_then(Value::as_f64)
                && x > max
            {
                return Err(format!(
                    "{path}: {} is above the maximum {}",
                    number(x),
                    number(max)
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

fn bound(
    s: &serde_json::Map<String, Value>,
    key: &str,
    actual: usize,
    ok: impl Fn(u64, u64) -> bool,
    path: &str,
    unit: &str,
) -> Result<(), String> {
    match s.get(key).and_then(Value::as_u64) {
        // Compared as u64: a bound above 2^32 must not wrap on wasm32's 32-bit usize.
        Some(n) if !ok(n, actual as u64) => {
            Err(format!("{path}: has {actual} {unit}, {key} is {n}"))
        }
        _ => Ok(()),
    }
}

/// A float as JSON writes it (through serde_json's formatter, so the component does not
/// carry a second float formatter).
fn number(x: f64) -> String {
    serde_json::Number::from_f64(x).map_or_else(|| "NaN".to_string(), |n| n.to_string())
}

fn has_type(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => {
            v.as_i64().is_some()
                || v.as_u64().is_some()
                || v.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => true,
    }
}

/// The JSON Schema name of a value's type.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fences_are_stripped() {
        assert_eq!(strip_fence("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(strip_fence("```\n[1]\n```"), "[1]");
        assert_eq!(strip_fence("  {\"a\":1} "), "{\"a\":1}");
        assert_eq!(strip_fence("```{\"a\":1}```"), "{\"a\":1}");
        assert_eq!(extract("```JSON\n{\"a\": 1}\n```").unwrap().0, "{\"a\": 1}");
        assert!(
            extract("Sure! {\"a\":1}")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(extract("").unwrap_err().contains("empty"));
    }

    #[test]
    fn schema_keywords_are_checked() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 1},
                "pop": {"type": "integer", "minimum": 0},
                "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
                "kind": {"anyOf": [{"const": "x"}, {"type": "null"}]}
            },
            "required": ["city"],
            "additionalProperties": false
        });
        assert!(
            check_schema(
                &json!({"city": "Paris", "pop": 2, "tags": ["a"], "kind": null}),
                &schema
            )
            .is_ok()
        );
        for (bad, why) in [
            (json!([]), "expected object"),
            (json!({"pop": 1}), "missing required property `city`"),
            (json!({"city": ""}), "minLength"),
            (json!({"city": "x", "pop": -1}), "below the minimum"),
            (json!({"city": "x", "pop": 1.5}), "expected integer"),
            (json!({"city": "x", "tags": ["c"]}), "$.tags[0]"),
            (json!({"city": "x", "tags": ["a", "a", "b"]}), "maxItems"),
            (
                json!({"city": "x", "extra": 1}),
                "unexpected property `extra`",
            ),
            (json!({"city": "x", "kind": "y"}), "anyOf"),
        ] {
            let e = check_schema(&bad, &schema).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
