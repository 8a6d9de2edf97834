//! Keys never leave the component. A server or proxy may echo the `Authorization` header
//! back — in an error body, in a 200 answer, in a streamed error event, in generated text —
//! so every configured key is replaced by [`MARK`] in everything the component returns:
//! messages, kept bodies, partial responses, responses and stream deltas. Keys shorter than
//! [`MIN_KEY_LEN`] are placeholders (`EMPTY`, `none`), not secrets, and are left alone so
//! that answers are not mangled.
//!
//! Streamed text can split a key across deltas, so a stream holds back the shortest tail that
//! could still grow into a key ([`StreamRedactor`]): at most the longest key's length minus
//! one, released as soon as the next delta decides.

use crate::types::{BackendHealth, ChatResponse, Error, StreamEvent, ToolCall, ToolCallDelta};

/// What a key is replaced with.
pub const MARK: &str = "[redacted]";

/// Keys shorter than this are not redacted (see the module docs).
pub const MIN_KEY_LEN: usize = 8;

/// Replaces the configured keys in text the component returns.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so a key that contains another is replaced whole.
    keys: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} keys)", self.keys.len())
    }
}

impl Redactor {
    /// A redactor for these keys (short ones skipped, duplicates merged).
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> Redactor {
        let mut keys: Vec<String> = keys
            .into_iter()
            .filter(|k| k.len() >= MIN_KEY_LEN)
            .map(str::to_string)
            .collect();
        keys.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        keys.dedup();
        Redactor { keys }
    }

    /// True when there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Replaces every key in `text` (no allocation when there is none).
    pub fn text(&self, text: &mut String) {
        for key in &self.keys {
            if text.contains(key.as_str()) {
                *text = text.replace(key.as_str(), MARK);
            }
        }
    }

    fn opt(&self, text: &mut Option<String>) {
        if let Some(t) = text {
            self.text(t);
        }
    }

    /// Redacts every text of a response.
    pub fn response(&self, r: &mut ChatResponse) {
        if self.is_empty() {
            return;
        }
        self.opt(&mut r.id);
        self.opt(&mut r.content);
        self.opt(&mut r.reasoning);
        self.text(&mut r.model);
        for c in &mut r.tool_calls {
            self.tool_call(c);
        }
        for c in &mut r.invalid_tool_calls {
            self.text(&mut c.id);
            self.text(&mut c.name);
            self.text(&mut c.raw_arguments);
            self.text(&mut c.error);
        }
    }

    /// Redacts a decoded tool call.
    pub fn tool_call(&self, c: &mut ToolCall) {
        self.text(&mut c.id);
        self.text(&mut c.name);
        self.text(&mut c.arguments);
    }

    /// Redacts an error: its message, the kept body and the partial response.
    pub fn error(&self, e: &mut Error) {
        if self.is_empty() {
            return;
        }
        self.text(&mut e.message);
        self.opt(&mut e.body);
        if let Some(p) = &mut e.partial {
            self.response(p);
        }
    }

    /// Redacts the errors in health reports.
    pub fn health(&self, h: &mut BackendHealth) {
        if let Some(e) = &mut h.error {
            self.error(e);
        }
    }

    /// How many bytes at the end of `text` could be the start of a key.
    fn risky_tail(&self, text: &str) -> usize {
        let mut longest = 0;
        for key in &self.keys {
            let most = (key.len() - 1).min(text.len());
            for n in (longest + 1..=most).rev() {
                let start = text.len() - n;
                if text.is_char_boundary(start)
                    && key.as_bytes().starts_with(&text.as_bytes()[start..])
                {
                    longest = n;
                    break;
                }
            }
        }
        longest
    }
}

/// The text channels of a stream whose tails are held back: content, reasoning, and the
/// arguments of each tool call (by index; a key can be split across argument fragments).
#[derive(Default)]
pub struct StreamRedactor {
    content: String,
    reasoning: String,
    calls: std::collections::BTreeMap<u32, String>,
}

impl StreamRedactor {
    /// Redacts a batch of events in place: text deltas are released up to the last byte that
    /// cannot begin a key; what is held goes out with the next delta of its channel, or just
    /// before `done` (whose record is redacted whole).
    pub fn events(&mut self, r: &Redactor, events: Vec<StreamEvent>) -> Vec<StreamEvent> {
        if r.is_empty() {
            return events;
        }
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            match event {
                StreamEvent::Content(text) => {
                    if let Some(t) = release(r, &mut self.content, text) {
                        out.push(StreamEvent::Content(t));
                    }
                }
                StreamEvent::Reasoning(text) => {
                    if let Some(t) = release(r, &mut self.reasoning, text) {
                        out.push(StreamEvent::Reasoning(t));
                    }
                }
                StreamEvent::ToolCall(mut d) => {
                    r.opt(&mut d.id);
                    r.opt(&mut d.name);
                    // The delta always goes out (it may carry the id and name); only the
                    // arguments' risky tail waits for the next fragment of the same call.
                    let held = self.calls.entry(d.index).or_default();
                    let args = std::mem::take(&mut d.arguments);
                    d.arguments = release(r, held, args).unwrap_or_default();
                    out.push(StreamEvent::ToolCall(d));
                }
                // Single tokens: a key spans many, and the text events are redacted.
                StreamEvent::Logprobs(l) => out.push(StreamEvent::Logprobs(l)),
                StreamEvent::Done(mut response) => {
                    self.flush(r, &mut out);
                    r.response(&mut response);
                    out.push(StreamEvent::Done(response));
                }
            }
        }
        out
    }

    /// The content and reasoning tails held back now.
    pub fn held(&self) -> (&str, &str) {
        (&self.content, &self.reasoning)
    }

    /// Releases what is held (the stream failed or ended).
    pub fn flush(&mut self, r: &Redactor, out: &mut Vec<StreamEvent>) {
        for (held, reasoning) in [(&mut self.reasoning, true), (&mut self.content, false)] {
            let mut text = std::mem::take(held);
            if text.is_empty() {
                continue;
            }
            r.text(&mut text);
            out.push(if reasoning {
                StreamEvent::Reasoning(text)
            } else {
                StreamEvent::Content(text)
            });
        }
        for (index, mut arguments) in std::mem::take(&mut self.calls) {
            if arguments.is_empty() {
                continue;
            }
            r.text(&mut arguments);
            out.push(StreamEvent::ToolCall(ToolCallDelta {
                index,
                id: None,
                name: None,
                arguments,
            }));
        }
    }
}

/// Appends `text` to the channel's held tail and returns what can be shown now.
fn release(r: &Redactor, held: &mut String, text: String) -> Option<String> {
    let mut all = if held.is_empty() {
        text
    } else {
        let mut all = std::mem::take(held);
        all.push_str(&text);
        all
    };
    r.text(&mut all);
    let keep = r.risky_tail(&all);
    *held = all.split_off(all.len() - keep);
    (!all.is_empty()).then_some(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-secret-123456";

    fn texts(events: &[StreamEvent]) -> String {
        events
            .iter()
            .map(|e| match e {
                StreamEvent::Content(t) => t.clone(),
                StreamEvent::Done(r) => format!("|done:{}", r.content.as_deref().unwrap_or("")),
                _ => String::new(),
            })
            .collect()
    }

    #[test]
    fn keys_are_replaced_bare_and_as_bearer_tokens_and_short_ones_left_alone() {
        let r = Redactor::new([KEY, "EMPTY"]);
        let mut t = format!("Authorization: Bearer {KEY}; echo {KEY}. EMPTY stays");
        r.text(&mut t);
        assert_eq!(
            t,
            "Authorization: Bearer [redacted]; echo [redacted]. EMPTY stays"
        );
        let mut e = Error::malformed(format!("said {KEY}"));
        e.body = Some(format!("{{\"auth\":\"Bearer {KEY}\"}}"));
        r.error(&mut e);
        assert!(!format!("{e:?}").contains(KEY));
    }

    #[test]
    fn a_key_split_across_deltas_never_shows() {
        let r = Redactor::new([KEY]);
        let body = format!("before {KEY} middle {KEY}");
        for split in 1..body.len() {
            let mut s = StreamRedactor::default();
            let mut shown = String::new();
            for part in [&body[..split], &body[split..]] {
                let out = s.events(&r, vec![StreamEvent::Content(part.to_string())]);
                shown.push_str(&texts(&out));
            }
            let mut end = Vec::new();
            s.flush(&r, &mut end);
            shown.push_str(&texts(&end));
            assert_eq!(
                shown, "before [redacted] middle [redacted]",
                "split at {split}"
            );
        }
        // Held text goes out before `done`; tool-call fragments are redacted too.
        let mut s = StreamRedactor::default();
        let done = ChatResponse {
            id: None,
            content: Some(format!("x {KEY}")),
            reasoning: None,
            tool_calls: vec![],
            invalid_tool_calls: vec![],
            finish_reason: None,
            usage: None,
            model: "m".into(),
            backend: "b".into(),
            earlier_backends: vec![],
            logprobs: vec![],
            attempts: 1,
        };
        let out = s.events(
            &r,
            vec![
                StreamEvent::Content("x sk-se".into()),
                StreamEvent::ToolCall(ToolCallDelta {
                    index: 0,
                    id: None,
                    name: None,
                    arguments: KEY.into(),
                }),
                StreamEvent::Done(done),
            ],
        );
        assert_eq!(texts(&out), "x sk-se|done:x [redacted]");
        assert!(matches!(&out[1], StreamEvent::ToolCall(d) if d.arguments == MARK));
    }

    /// Found by the `redaction` fuzz target: tool-call argument fragments were redacted one
    /// by one, so a key split across two fragments reached the caller whole.
    #[test]
    fn a_key_split_across_tool_call_fragments_never_shows() {
        let r = Redactor::new([KEY]);
        let args = format!("{{\"auth\":\"{KEY}\"}}");
        for split in 1..args.len() {
            let mut s = StreamRedactor::default();
            let mut out = Vec::new();
            for part in [&args[..split], &args[split..]] {
                let delta = ToolCallDelta {
                    index: 0,
                    id: Some("call_0".into()),
                    name: None,
                    arguments: part.to_string(),
                };
                let shown = s.events(&r, vec![StreamEvent::ToolCall(delta)]);
                assert_eq!(shown.len(), 1, "a call delta (its id) is never held back");
                out.extend(shown);
            }
            s.flush(&r, &mut out);
            let shown: String = out
                .iter()
                .filter_map(|e| match e {
                    StreamEvent::ToolCall(d) => Some(d.arguments.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(shown, "{\"auth\":\"[redacted]\"}", "split at {split}");
        }
    }
}
