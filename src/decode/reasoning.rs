//! Reasoning text: `<think>...</think>` left in the content by a server without a reasoning
//! parser is moved out — on the assembled text, and incrementally on streamed deltas without
//! leaking half tags.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// Splits reasoning out of a complete content. `None` when there is none.
///
/// Handles `<think>R</think>A`, an unclosed `<think>R` (cut by max-tokens: all reasoning),
/// and `R</think>` + newline + `A` (the chat template opened the tag in the prompt; only on
/// the assembled text — while streaming, that form cannot be told from an answer until the
/// tag arrives, so its deltas stream as content).
pub fn split(content: &str) -> Option<(String, String)> {
    let start = content.trim_start();
    if let Some(after_open) = start.strip_prefix(OPEN) {
        return Some(match after_open.find(CLOSE) {
            Some(end) => (
                after_open[..end].trim().to_string(),
                after_open[end + CLOSE.len()..].trim_start().to_string(),
            ),
            None => (after_open.trim().to_string(), String::new()),
        });
    }
    // The template opened the tag in the prompt: `reasoning</think>` then the answer on a
    // new line. A `</think>` inside a sentence (an answer mentioning the tag) is not that.
    let end = content.find(CLOSE)?;
    let after = &content[end + CLOSE.len()..];
    let ends_block = after.is_empty()
        || after
            .trim_start_matches([' ', '\t'])
            .starts_with(['\n', '\r']);
    if content[..end].contains(OPEN) || !ends_block {
        return None;
    }
    Some((
        content[..end].trim().to_string(),
        content[end + CLOSE.len()..].trim_start().to_string(),
    ))
}

/// A piece of streamed text, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Content(String),
    Reasoning(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Only whitespace so far: a `<think>` may still open.
    Start,
    Thinking,
    /// Just after `</think>`: whitespace before the answer is dropped, as `split` trims it.
    AfterThink,
    Answer,
}

/// Incremental `<think>` splitter for content deltas. Holds back only text that may be the
/// beginning of a tag, and only until the next delta decides.
#[derive(Debug, Clone)]
pub struct ThinkFilter {
    state: State,
    held: String,
}

impl Default for ThinkFilter {
    fn default() -> Self {
        ThinkFilter {
            state: State::Start,
            held: String::new(),
        }
    }
}

impl ThinkFilter {
    /// Feeds one delta; hands what can be released now to `out`.
    pub fn push(&mut self, delta: String, out: &mut impl FnMut(Piece)) {
        // The common case once the answer has begun: pass the delta through untouched.
        if self.state == State::Answer && self.held.is_empty() {
            if !delta.is_empty() {
                out(Piece::Content(delta));
            }
            return;
        }
        // Whitespace before a possible `<think>`: held as is, without rescanning what is held
        // (a server sending thousands of newline deltas must not cost quadratic time).
        if self.state == State::Start
            && !self.held.ends_with(|c: char| !c.is_whitespace())
            && delta.trim_start().is_empty()
        {
            self.held.push_str(&delta);
            return;
        }
        let mut text = std::mem::take(&mut self.held);
        text.push_str(&delta);
        loop {
            match self.state {
                State::Start => {
                    let trimmed = text.trim_start();
                    if trimmed.is_empty() {
                        self.held = text;
                        return;
                    }
                    if let Some(rest) = trimmed.strip_prefix(OPEN) {
                        self.state = State::Thinking;
                        text = rest.to_string();
                    } else if OPEN.starts_with(trimmed) {
                        self.held = text;
                        return;
                    } else {
                        self.state = State::Answer;
                    }
                }
                State::Thinking => match text.find(CLOSE) {
                    Some(end) => {
                        push_piece(out, Piece::Reasoning(text[..end].to_string()));
                        self.state = State::AfterThink;
                        text = text[end + CLOSE.len()..].to_string();
                    }
                    None => {
                        let keep = partial_suffix(&text, CLOSE);
                        self.held = text.split_off(text.len() - keep);
                        push_piece(out, Piece::Reasoning(text));
                        return;
                    }
                },
                State::AfterThink => {
                    text = text.trim_start().to_string();
                    if text.is_empty() {
                        return;
                    }
                    self.state = State::Answer;
                }
                State::Answer => {
                    push_piece(out, Piece::Content(text));
                    return;
                }
            }
        }
    }

    /// Takes text that was already delivered (an answer being continued) without emitting
    /// it, so the filter's state is where that text left it.
    pub fn skip(&mut self, text: &str) {
        self.push(text.to_string(), &mut |_| {});
        self.held.clear();
    }

    /// Bytes held back from the events so far.
    pub fn held_len(&self) -> usize {
        self.held.len()
    }

    /// Releases whatever is still held at the end of the stream.
    pub fn finish(&mut self, out: &mut impl FnMut(Piece)) {
        let held = std::mem::take(&mut self.held);
        match self.state {
            State::Thinking => push_piece(out, Piece::Reasoning(held)),
            _ => push_piece(out, Piece::Content(held)),
        }
    }
}

fn push_piece(out: &mut impl FnMut(Piece), piece: Piece) {
    let empty = match &piece {
        Piece::Content(s) | Piece::Reasoning(s) => s.is_empty(),
    };
    if !empty {
        out(piece);
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `tag`.
fn partial_suffix(text: &str, tag: &str) -> usize {
    (1..tag.len())
        .rev()
        .find(|&n| {
            text.len() >= n
                && text.is_char_boundary(text.len() - n)
                && tag.starts_with(&text[text.len() - n..])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_complete_content() {
        assert_eq!(
            split("<think>hmm</think>\n\nAnswer"),
            Some(("hmm".into(), "Answer".into()))
        );
        assert_eq!(
            split("  <think>cut off"),
            Some(("cut off".into(), String::new()))
        );
        assert_eq!(
            split("opened in prompt\n</think>\n\nAnswer"),
            Some(("opened in prompt".into(), "Answer".into()))
        );
        assert_eq!(split("Plain answer"), None);
        assert_eq!(split("Use <think> and </think> tags"), None);
        assert_eq!(split("The closing tag is </think>."), None);
        assert_eq!(
            split("step 1\n</think>"),
            Some(("step 1".into(), String::new()))
        );
    }

    fn pieces(deltas: &[&str]) -> Vec<Piece> {
        let mut f = ThinkFilter::default();
        let mut pieces = Vec::new();
        for d in deltas {
            f.push(d.to_string(), &mut |p| pieces.push(p));
        }
        f.finish(&mut |p| pieces.push(p));
        pieces
    }

    fn run(deltas: &[&str]) -> (String, String) {
        let (mut r, mut c) = (String::new(), String::new());
        for p in pieces(deltas) {
            match p {
                Piece::Reasoning(s) => r.push_str(&s),
                Piece::Content(s) => c.push_str(&s),
            }
        }
        (r, c)
    }

    #[test]
    fn streams_without_leaking_tags_at_any_split() {
        let full = "<think>step <b>1</b></think>\nThe answer";
        for cut in 1..full.len() {
            for cut2 in cut..full.len() {
                let parts = [&full[..cut], &full[cut..cut2], &full[cut2..]];
                for p in pieces(&parts) {
                    let (Piece::Reasoning(s) | Piece::Content(s)) = p;
                    assert!(
                        !s.contains("think") && !s.ends_with('<') && !s.ends_with("</"),
                        "tag leaked: {s:?} at {cut},{cut2}"
                    );
                }
                let (r, c) = run(&parts);
                assert_eq!(
                    (r.as_str(), c.as_str()),
                    ("step <b>1</b>", "The answer"),
                    "cuts {cut},{cut2}"
                );
            }
        }
        assert_eq!(
            run(&["Hello", " <think>x</think>"]),
            (String::new(), "Hello <think>x</think>".into())
        );
        assert_eq!(
            run(&["<thi", "s is text"]),
            (String::new(), "<this is text".into())
        );
        assert_eq!(
            run(&["<think>never closed"]),
            ("never closed".into(), String::new())
        );
    }
}
