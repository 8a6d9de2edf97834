//! Fuzz targets for caller input and the checks run on answers: regex → GBNF and the regex
//! check, JSON-schema checks, configuration validation, base URLs, retry hints, and the
//! redaction of configured keys from everything the component returns, stream splits
//! included.

use super::input::{Input, floor};
use crate::config;
use crate::constraints::{gbnf, regex_check};
use crate::decode::json_output;
use crate::redact::{Redactor, StreamRedactor};
use crate::routing::retry;
use crate::types::*;
use crate::url::BaseUrl;
use serde_json::{Value, json};

pub const REGEX: &[&str] = &[
    "a", "b", "é", ".", "*", "+", "?", "|", "(", ")", "[", "]", "^", "-", "\\d", "\\w", "\\s",
    "\\", "{2}", "{1,3}", "{,", "}", "{99999}", "[^a]", "(?:", "$", "a-z", "\\.", " ",
];

/// `gbnf::from_regex` and `regex_check::matches`: no panic, bounded time; a choice list's
/// regex matches each choice, and its grammar is produced.
pub fn regex(data: &[u8]) {
    let mut input = Input::new(data);
    let re = if input.bool() {
        input.words(REGEX, 12)
    } else {
        input.text(64)
    };
    let text = input.words(&["a", "b", "é", "1", " ", "\n", "z"], 16);
    if let Ok(grammar) = gbnf::from_regex(&re) {
        assert!(grammar.contains("root ::="), "{re:?} gave {grammar:?}");
    }
    let _ = regex_check::matches(&re, &text);
    let choices: Vec<String> = (0..input.below(4) + 1).map(|_| input.text(6)).collect();
    if let Ok(choice_re) = gbnf::regex_for_choice(&choices) {
        for c in &choices {
            assert_ne!(
                regex_check::matches(&choice_re, c),
                Some(false),
                "{choice_re:?} vs {c:?}"
            );
        }
        assert!(gbnf::from_choice(&choices).is_ok());
    }
}

/// A JSON value from the input, at most `depth` deep.
fn value(input: &mut Input, depth: usize) -> Value {
    match input.below(if depth == 0 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(input.bool()),
        2 => json!(i64::from(input.u16()) - 100),
        3 => json!(f64::from(input.u16()) / 7.0),
        4 => json!(input.pick(&["a", "object", "string", "", "é", "integer", "array"])),
        5 => Value::Array(
            (0..input.below(4))
                .map(|_| value(input, depth - 1))
                .collect(),
        ),
        _ => {
            const KEYS: &[&str] = &[
                "type",
                "properties",
                "required",
                "items",
                "enum",
                "const",
                "minimum",
                "maximum",
                "minLength",
                "maxLength",
                "minItems",
                "maxItems",
                "anyOf",
                "oneOf",
                "allOf",
                "additionalProperties",
                "pattern",
                "a",
                "$ref",
                "exclusiveMinimum",
            ];
            let mut m = serde_json::Map::new();
            for _ in 0..input.below(5) {
                m.insert(input.pick(KEYS).into(), value(input, depth - 1));
            }
            Value::Object(m)
        }
    }
}

/// `json_output::check_schema` and `extract`: no panic on any schema and value; the empty
/// schema and the value's own type accept it.
pub fn json_schema(data: &[u8]) {
    let mut input = Input::new(data);
    let schema = value(&mut input, 5);
    let v = value(&mut input, 5);
    let _ = json_output::check_schema(&v, &schema);
    assert!(json_output::check_schema(&v, &json!({})).is_ok());
    let own = json!({"type": json_output::type_name(&v)});
    assert!(json_output::check_schema(&v, &own).is_ok(), "{v} vs {own}");
    let text = if input.bool() {
        v.to_string()
    } else {
        input.text(64)
    };
    let fenced = format!("```json\n{text}\n```");
    if let Ok((json, _)) = json_output::extract(&fenced) {
        assert!(serde_json::from_str::<Value>(&json).is_ok());
    }
}

const URL: &[&str] = &[
    "http://",
    "https://",
    "HTTP://",
    "127.0.0.1",
    ":8000",
    ":",
    "[::1]",
    "[",
    "]",
    "/v1",
    "/",
    "?",
    "#",
    "@",
    "user:",
    "host",
    "é",
    " ",
    "%",
    ":99999",
    ".",
    "-",
    "localhost",
];

/// A key that never occurs in generated text unless put there on purpose.
const KEY: &str = "sk-KEYKEYKEY-42";

fn backend(input: &mut Input) -> BackendConfig {
    BackendConfig {
        name: input.bool().then(|| input.words(&["a", "b", " ", ""], 3)),
        kind: input.pick(&[
            BackendKind::Vllm,
            BackendKind::Sglang,
            BackendKind::OpenaiCompatible,
            BackendKind::Auto,
        ]),
        base_url: input.words(URL, 6),
        api_key: input
            .bool()
            .then(|| input.pick(&[KEY, "", "sk-x\nInjected: 1"]).to_string()),
        models: (0..input.below(3))
            .map(|_| input.words(&["m", " ", ""], 2))
            .collect(),
        weight: input.bool().then(|| u32::from(input.byte())),
        legacy_guided_decoding: input.bool().then(|| input.bool()),
    }
}

fn opt32(input: &mut Input) -> Option<u32> {
    match input.below(4) {
        0 => None,
        1 => Some(0),
        2 => Some(u32::MAX),
        _ => Some(u32::from(input.u16())),
    }
}

/// `config::validate`: never panics; a valid configuration has backends, positive
/// timeouts and weights; no error quotes an API key.
pub fn config(data: &[u8]) {
    let mut input = Input::new(data);
    let config = ClientConfig {
        backends: (0..input.below(4)).map(|_| backend(&mut input)).collect(),
        default_model: input.bool().then(|| input.words(&["m", " "], 2)),
        timeouts: Timeouts {
            connect_ms: opt32(&mut input),
            first_byte_ms: opt32(&mut input),
            between_bytes_ms: opt32(&mut input),
            total_ms: opt32(&mut input),
        },
        retry: RetryPolicy {
            max_attempts: opt32(&mut input),
            initial_backoff_ms: opt32(&mut input),
            max_backoff_ms: opt32(&mut input),
            max_retry_after_ms: opt32(&mut input),
            resume_streams: input.bool().then(|| input.bool()),
        },
        routing: None,
        cooldown: CooldownPolicy {
            base_ms: opt32(&mut input),
            max_ms: opt32(&mut input),
            probe_health: None,
        },
        discovery_ttl_ms: opt32(&mut input),
        metrics_ttl_ms: opt32(&mut input),
        max_response_bytes: input.bool().then(|| u64::from(input.u32())),
        routing_seed: None,
        cache_aware_margin: opt32(&mut input),
        session_header: input
            .bool()
            .then(|| input.words(&["x-session", " ", "\n", ":"], 3)),
    };
    match config::validate(config) {
        Ok(s) => {
            assert!(!s.backends.is_empty());
            assert!(s.backends.iter().all(|b| b.weight >= 1));
            let t = &s.timeouts;
            assert!(
                t.connect_ms > 0 && t.first_byte_ms > 0 && t.between_bytes_ms > 0 && t.total_ms > 0
            );
        }
        Err(e) => {
            assert_eq!(e.code, ErrorCode::InvalidConfig);
            assert!(
                !format!("{e:?}").contains(KEY),
                "error quotes the key: {e:?}"
            );
        }
    }
}

/// `BaseUrl::parse`: a parsed URL prints as text that parses back to itself, and its
/// origin starts what it prints.
pub fn base_url(data: &[u8]) {
    let mut input = Input::new(data);
    let text = if input.bool() {
        input.words(URL, 8)
    } else {
        String::from_utf8_lossy(input.rest()).into_owned()
    };
    if let Ok(url) = BaseUrl::parse(&text) {
        let printed = url.to_string();
        assert_eq!(
            BaseUrl::parse(&printed).as_ref(),
            Ok(&url),
            "{text:?} → {printed:?}"
        );
        assert!(printed.starts_with(&url.origin()));
        assert!(url.api_path("/models").starts_with('/'));
    }
}

/// An IMF-fixdate for Unix seconds `t`.
fn imf_date(t: u64) -> String {
    let (days, secs) = ((t / 86_400) as i64, t % 86_400);
    // H. Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    format!(
        "Thu, {d:02} {} {y} {h:02}:{mi:02}:{s:02} GMT",
        MONTHS[(m - 1) as usize]
    )
}

/// `retry::retry_after_ms`, `http_date`, `should_retry`: no panic; an HTTP date reads back
/// to the time it was written from; a wait in seconds is that many thousand ms.
pub fn retry_after(data: &[u8]) {
    let mut input = Input::new(data);
    let t = u64::from(input.u32()) * 4; // up to year 2514
    assert_eq!(retry::http_date(&imf_date(t)), Some(t), "{}", imf_date(t));
    let now = u64::from(input.u32());
    let secs = input.u16();
    assert_eq!(
        retry::retry_after_ms(None, Some(&secs.to_string()), now),
        Some(u64::from(secs) * 1000)
    );
    const HINTS: &[&str] = &[
        "1",
        "0.5",
        "-1",
        "NaN",
        "inf",
        "1e400",
        "Thu, ",
        "01 Jan 2030",
        " 00:00:00 GMT",
        " ",
        "true",
        "false",
        "e",
    ];
    let a = input.bool().then(|| input.words(HINTS, 3));
    let b = input.words(HINTS, 4);
    let _ = retry::retry_after_ms(a.as_deref(), Some(&b), now);
    let _ = retry::should_retry(Some(&b));
    let _ = retry::http_date(&input.text(40));
}

/// Text from an alphabet that shares no character with `[redacted]`, so a replacement can
/// never form a key.
const KEY_CHARS: &[&str] = &["x", "y", "z", "1", "é", " "];

/// `Redactor` and `StreamRedactor`: keys split anywhere across content, reasoning and
/// tool-call deltas never reach the caller; with one key, each channel's text equals the
/// whole text redacted at once.
pub fn redaction(data: &[u8]) {
    let mut input = Input::new(data);
    let keys: Vec<String> = (0..input.below(3) + 1)
        .map(|_| {
            let n = 8 + input.below(4);
            (0..n).map(|_| input.pick(&["x", "y", "z", "1"])).collect()
        })
        .collect();
    let r = Redactor::new(keys.iter().map(String::as_str));
    let mut s = StreamRedactor::default();
    // What was sent per channel (content, reasoning, call 0, call 1) and what came out.
    let mut sent: [String; 4] = Default::default();
    let mut shown: [String; 4] = Default::default();
    let take = |out: Vec<StreamEvent>, shown: &mut [String; 4]| {
        for e in out {
            match e {
                StreamEvent::Content(t) => shown[0].push_str(&t),
                StreamEvent::Reasoning(t) => shown[1].push_str(&t),
                StreamEvent::ToolCall(d) => shown[2 + d.index as usize].push_str(&d.arguments),
                _ => {}
            }
        }
    };
    for _ in 0..input.below(24) {
        let mut batch = Vec::new();
        for _ in 0..input.below(3) + 1 {
            let mut text = input.words(KEY_CHARS, 6);
            if input.below(4) == 0 {
                // Part of a key, so that keys form across deltas.
                let k = &keys[input.below(keys.len())];
                let from = floor(k, input.below(k.len())).len();
                text.push_str(&k[from..]);
                text.push_str(floor(k, input.below(k.len() + 1)));
            }
            let channel = input.below(4);
            sent[channel].push_str(&text);
            batch.push(match channel {
                0 => StreamEvent::Content(text),
                1 => StreamEvent::Reasoning(text),
                i => StreamEvent::ToolCall(ToolCallDelta {
                    index: (i - 2) as u32,
                    id: None,
                    name: None,
                    arguments: text,
                }),
            });
        }
        let out = s.events(&r, batch);
        take(out, &mut shown);
    }
    let mut end = Vec::new();
    s.flush(&r, &mut end);
    take(end, &mut shown);
    for (i, (sent, shown)) in sent.iter_mut().zip(&shown).enumerate() {
        for k in &keys {
            assert!(
                !shown.contains(k.as_str()),
                "channel {i} shows key {k:?}: {shown:?}"
            );
        }
        // With one key the streamed text is the whole text redacted at once. Keys that
        // overlap each other ("xxxxxxxx", "xx1xxxxx") can be matched at other places in
        // other windows: still no key shows, checked above.
        r.text(sent);
        if keys.len() == 1 {
            assert_eq!(
                sent, shown,
                "channel {i}: streamed redaction differs from whole (key {keys:?})"
            );
        }
    }
}
