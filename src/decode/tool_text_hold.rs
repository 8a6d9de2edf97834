//! While streaming with tools offered, content that may be a tool call the model writes as
//! text (`<tool_call>`, `[TOOL_CALLS]`, `<|python_tag|>`, or an answer that starts like bare
//! JSON) is held back from the deltas, so markup does not reach the caller as text when it
//! will come back as calls. Held text that turns out not to be a call is released.

//!
//! Per-delta work is O(delta): nothing already seen is rescanned. Past
//! `text_tools::MAX_SCANNED` bytes the answer is not searched for calls (see there), so the
//! hold lets everything through from then on.

use crate::decode::text_tools::MAX_SCANNED;

/// Holds content back from deltas once it may be a text-format tool call, so markup does not
/// reach the caller as text when it will come back as calls. Released if it was not a call.
#[derive(Default)]
pub struct ToolTextHold {
    /// Content released so far (kept only while the answer may still be searched for calls).
    pub released: String,
    /// Content held since the first possible call marker.
    pub held: String,
    /// Some non-whitespace text was released.
    shown_text: bool,
    /// The answer grew past what is searched for calls: nothing is held any more.
    passing: bool,
}

/// Markers that start a text-format call anywhere in the answer.
const MARKERS: [&str; 3] = ["<tool_call>", "[TOOL_CALLS]", "<|python_tag|>"];

impl ToolTextHold {
    /// Starts after `shown`, text of the same answer delivered earlier (a continuation).
    pub fn seed(&mut self, shown: &str) {
        self.shown_text = !shown.trim().is_empty();
        if shown.len() > MAX_SCANNED {
            self.passing = true;
        } else {
            self.released.push_str(shown);
        }
    }

    /// Takes the next content delta; returns the part that may be shown now.
    pub fn push(&mut self, text: &str) -> String {
        if self.passing {
            return text.to_string();
        }
        if self.released.len() + self.held.len() + text.len() > MAX_SCANNED {
            self.passing = true;
            self.released = String::new();
            let mut out = std::mem::take(&mut self.held);
            out.push_str(text);
            return out;
        }
        if !self.held.is_empty() {
            self.held.push_str(text);
            return String::new();
        }
        let mut candidate = String::with_capacity(text.len());
        candidate.push_str(text);
        // A bare JSON call (optionally fenced) is the whole answer: hold only when the answer
        // starts like one; a fence or brace later in an answer is the answer's own text.
        let at_start = !self.shown_text;
        let body = candidate.trim_start();
        let starts_like_json = body.starts_with(['{', '['])
            || body.starts_with("```")
            || (body.len() < 3 && "```".starts_with(body) && !body.is_empty());
        let cut = if at_start && starts_like_json {
            Some(candidate.len() - candidate.trim_start().len())
        } else {
            MARKERS
                .iter()
                .filter_map(|m| candidate.find(m))
                .min()
                .or_else(|| partial_marker(&candidate))
        };
        if let Some(i) = cut {
            self.held = candidate.split_off(i);
        }
        self.shown_text |= !candidate.trim().is_empty();
        self.released.push_str(&candidate);
        candidate
    }
}

/// Start of a suffix that could grow into a marker.
fn partial_marker(text: &str) -> Option<usize> {
    MARKERS
        .iter()
        .filter_map(|m| {
            (1..m.len())
                .rev()
                .find(|&n| {
                    text.len() >= n
                        && text.is_char_boundary(text.len() - n)
                        && m.starts_with(&text[text.len() - n..])
                })
                .map(|n| text.len() - n)
        })
        .min()
}
