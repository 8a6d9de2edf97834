//! Server-sent events, per the HTML event-stream rules: lines end in CRLF, LF or CR; `data:`
//! lines of one event are joined with `\n`; a blank line dispatches; comments (`: ping`) and
//! other fields are skipped. Input may be split at any byte, inside a line ending or a UTF-8
//! sequence; invalid UTF-8 becomes U+FFFD as the spec's decoder does.

/// Incremental parser. Feed bytes with `push`, end with `finish`.
#[derive(Default)]
pub struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// `data` of the current event (lines joined with `\n`).
    data: String,
    has_data: bool,
    /// The previous chunk ended in CR: a leading LF of the next one belongs to it.
    after_cr: bool,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Parses `bytes`, calling `on_event` with each complete event's data.
    pub fn push(&mut self, mut bytes: &[u8], on_event: &mut impl FnMut(&str)) {
        // An empty read says nothing: above all, not that the CR before it ended a line
        // without its LF (that LF may come in the next chunk).
        if bytes.is_empty() {
            return;
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        // Data of a single-line event not yet dispatched, still inside `bytes`: the common
        // `data: {...}` + blank line is dispatched from the input, without a copy.
        let mut pending: Option<&str> = None;
        while let Some(end) = memchr::memchr2(b'\n', b'\r', bytes) {
            let (head, tail) = bytes.split_at(end);
            if self.line.is_empty() {
                if head.is_empty() {
                    match pending.take() {
                        Some(data) => on_event(data),
                        None => self.dispatch(on_event),
                    }
                } else if let (false, Some(value)) =
                    (self.has_data || pending.is_some(), data_value(head))
                {
                    match std::str::from_utf8(value) {
                        Ok(text) => pending = Some(text),
                        Err(_) => self.line_done(head, on_event),
                    }
                } else {
                    self.spill(&mut pending);
                    self.line_done(head, on_event);
                }
            } else {
                self.spill(&mut pending);
                self.line.extend_from_slice(head);
                let line = std::mem::take(&mut self.line);
                // A long event arrives in many chunks: its one data line becomes the event's
                // data in place, never copied (a big body is held once, not twice).
                if let Some(line) = self.adopt_data_line(line) {
                    self.line_done(&line, on_event);
                    self.line = line;
                    self.line.clear();
                    self.line.shrink_to(KEPT_CAPACITY);
                }
            }
            bytes = &tail[1..];
            if tail[0] == b'\r' {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
        }
        self.spill(&mut pending);
        self.line.extend_from_slice(bytes);
    }

    /// Moves a not-yet-dispatched single-line event into the event buffer (its blank line is
    /// not in this chunk, or another field line follows).
    fn spill(&mut self, pending: &mut Option<&str>) {
        if let Some(data) = pending.take() {
            self.data.push_str(data);
            self.has_data = true;
        }
    }

    /// End of input: an event whose blank line never came is still delivered (the spec drops
    /// it, but a server that closes early should not lose its last data).
    pub fn finish(&mut self, on_event: &mut impl FnMut(&str)) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, on_event);
        }
        self.dispatch(on_event);
    }

    fn line_done(&mut self, line: &[u8], on_event: &mut impl FnMut(&str)) {
        if line.is_empty() {
            self.dispatch(on_event);
            return;
        }
        if line[0] == b':' {
            return; // comment, e.g. `: ping`
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        if field == b"data" {
            if self.has_data {
                self.data.push('\n');
            }
            match std::str::from_utf8(value) {
                Ok(text) => self.data.push_str(text),
                // As the spec's decoder: invalid bytes become U+FFFD.
                Err(_) => self.data.push_str(&String::from_utf8_lossy(value)),
            }
            self.has_data = true;
        }
        // `event`, `id`, `retry` and unknown fields carry nothing the chat API uses.
    }

    /// Makes `line` the event's data when it is the event's first `data:` line and valid
    /// UTF-8; otherwise gives it back.
    fn adopt_data_line(&mut self, mut line: Vec<u8>) -> Option<Vec<u8>> {
        let Some(value) = (!self.has_data).then(|| data_value(&line)).flatten() else {
            return Some(line);
        };
        if std::str::from_utf8(value).is_err() {
            return Some(line);
        }
        let prefix = line.len() - value.len();
        line.drain(..prefix);
        self.data = String::from_utf8(line).ok()?;
        self.has_data = true;
        None
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(&str)) {
        if self.has_data {
            on_event(&self.data);
            self.data.clear();
            self.data.shrink_to(KEPT_CAPACITY);
            self.has_data = false;
        }
    }
}

/// Buffers keep at most this much capacity between events: one huge event must not pin its
/// size for the rest of the stream.
const KEPT_CAPACITY: usize = 64 * 1024;

/// The value of a `data:` line (`data` alone means empty data), or `None` for other lines.
fn data_value(line: &[u8]) -> Option<&[u8]> {
    let rest = line.strip_prefix(b"data")?;
    match rest.first() {
        None => Some(rest),
        Some(b':') => Some(rest[1..].strip_prefix(b" ").unwrap_or(&rest[1..])),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<String> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c, &mut |d| out.push(d.to_string()));
        }
        p.finish(&mut |d| out.push(d.to_string()));
        out
    }

    #[test]
    fn follows_the_event_stream_rules() {
        let input = b": ping\r\n\r\ndata: {\"a\":1}\r\n\r\ndata:x\ndata: y\n\nevent: message\nid: 7\nretry: 10\nfoo: bar\ndata: z\r\rdata: [DONE]\n\n";
        assert_eq!(events(&[input]), vec!["{\"a\":1}", "x\ny", "z", "[DONE]"]);
        // A field with no colon, `data` alone, means empty data.
        assert_eq!(events(&[b"data\n\n"]), vec![""]);
        // Blank lines without data dispatch nothing.
        assert_eq!(events(&[b"\n\n\r\n: c\n\n"]), Vec::<String>::new());
        // Missing final blank line: still delivered at the end.
        assert_eq!(events(&[b"data: last"]), vec!["last"]);
    }

    #[test]
    fn any_split_gives_the_same_events() {
        let input =
            "data: héllo wörld 🦀\r\n\r\n: ping\n\ndata: a\rdata: b\r\r\ndata: [DONE]\r\n\r\n"
                .as_bytes();
        let whole = events(&[input]);
        assert_eq!(whole, vec!["héllo wörld 🦀", "a\nb", "[DONE]"]);
        for i in 0..=input.len() {
            for j in i..=input.len() {
                assert_eq!(
                    events(&[&input[..i], &input[i..j], &input[j..]]),
                    whole,
                    "split at {i},{j}"
                );
            }
        }
        let bytewise: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(events(&bytewise), whole);
    }

    /// Found by the `sse_stream` fuzz target: an empty chunk between a CR and its LF made
    /// the LF a second line end, dispatching an event early (the transport's reads can be
    /// empty).
    #[test]
    fn an_empty_chunk_between_cr_and_lf_changes_nothing() {
        let whole = events(&[b"data: a\r\ndata: b\r\n\r\n"]);
        assert_eq!(whole, vec!["a\nb"]);
        assert_eq!(events(&[b"data: a\r", b"", b"\ndata: b\r\n\r\n"]), whole);
        assert_eq!(events(&[b"data:\r", b"", b"", b"\n\r\n"]), vec![""]);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        assert_eq!(events(&[b"data: a\xffb\n\n"]), vec!["a\u{fffd}b"]);
    }
}
