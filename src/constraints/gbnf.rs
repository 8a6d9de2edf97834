//! Constraint translation for servers that lack a constraint kind natively:
//! llama.cpp only takes GBNF grammars (so `regex` and `choice` become GBNF), and SGLang has
//! no `choice` (so choices become an escaped regex alternation).
//!
//! The regex dialect translated is the common subset: literals and escapes, `.`, classes
//! (`[a-z]`, `[^...]`, `\d \w \s` and negations), groups (`(...)`, `(?:...)`, named),
//! alternation, and the quantifiers `* + ? {n} {n,} {n,m}` (lazy forms match the same
//! strings). Anchors `^`/`$` are dropped: constrained decoding always matches the whole
//! output. Back-references, look-around and `\b` have no grammar equivalent and are refused.

/// `root ::= "a" | "b" | ...` for a choice list.
pub fn from_choice(choices: &[String]) -> Result<String, String> {
    if choices.is_empty() {
        return Err("choice list is empty".into());
    }
    let alts: Vec<String> = choices.iter().map(|c| literal(c)).collect();
    Ok(format!("root ::= {}", alts.join(" | ")))
}

/// `(a|b|...)` with regex metacharacters escaped, for servers that take a regex.
pub fn regex_for_choice(choices: &[String]) -> Result<String, String> {
    if choices.is_empty() {
        return Err("choice list is empty".into());
    }
    let alts: Vec<String> = choices.iter().map(|c| regex_escape(c)).collect();
    Ok(format!("({})", alts.join("|")))
}

/// Translates a regular expression to a GBNF grammar whose `root` matches the same strings.
pub fn from_regex(regex: &str) -> Result<String, String> {
    let node = parse(regex)?;
    let mut out = String::from("root ::= ");
    emit(&node, &mut out);
    Ok(out)
}

fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        // Only the metacharacters: other escapes (`\"`, `\-`) are errors in some engines.
        if r"\.^$|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn literal(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        push_escaped(c, &mut out, &['"', '\\']);
    }
    out.push('"');
    out
}

fn push_escaped(c: char, out: &mut String, specials: &[char]) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
        c if specials.contains(&c) => {
            out.push('\\');
            out.push(c);
        }
        c => out.push(c),
    }
}

/// Parses the regex dialect above (shared with the client-side check, `regex_check`).
pub(crate) fn parse(regex: &str) -> Result<Node, String> {
    let mut parser = Parser {
        chars: regex.chars().collect(),
        pos: 0,
        depth: 0,
    };
    let node = parser.alternation()?;
    if parser.pos < parser.chars.len() {
        return Err(format!(
            "unbalanced `)` at position {} in the regex",
            parser.pos
        ));
    }
    Ok(node)
}

/// A parsed regex.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Literal(char),
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
    },
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    /// Open groups: bounded, so a hostile regex cannot exhaust the component's stack.
    depth: usize,
}

/// Deepest group nesting accepted (real constraints use a handful).
const MAX_DEPTH: usize = 64;

const DIGIT: &[(char, char)] = &[('0', '9')];
const WORD: &[(char, char)] = &[('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')];
const SPACE: &[(char, char)] = &[
    (' ', ' '),
    ('\t', '\t'),
    ('\n', '\n'),
    ('\r', '\r'),
    ('\x0b', '\x0c'),
];

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += usize::from(c.is_some());
        c
    }

    fn eat(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(c);
        self.pos += usize::from(hit);
        hit
    }

    fn alternation(&mut self) -> Result<Node, String> {
        let mut alts = vec![self.concat()?];
        while self.eat('|') {
            alts.push(self.concat()?);
        }
        Ok(if alts.len() == 1 {
            alts.remove(0)
        } else {
            Node::Alt(alts)
        })
    }

    fn concat(&mut self) -> Result<Node, String> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            if let Some(atom) = self.atom()? {
                items.push(self.quantified(atom)?);
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::Concat(items)
        })
    }

    /// One atom; `None` for anchors, which match no text.
    fn atom(&mut self) -> Result<Option<Node>, String> {
        let at = self.pos;
        let Some(c) = self.next() else {
            return Err("unexpected end of regex".into());
        };
        Ok(Some(match c {
            '^' | '$' => return Ok(None),
            '.' => Node::Class {
                negated: true,
                items: vec![('\n', '\n')],
            },
            '[' => self.class()?,
            '(' => {
                if self.eat('?') {
                    if self.eat(':') {
                    } else if self.peek() == Some('P') || self.peek() == Some('<') {
                        self.eat('P');
                        if !self.eat('<') || matches!(self.peek(), Some('=') | Some('!')) {
                            return Err(format!(
                                "look-behind at position {at} has no grammar equivalent"
                            ));
                        }
                        while let Some(n) = self.next() {
                            if n == '>' {
                                break;
                            }
                        }
                    } else {
                        return Err(format!(
                            "`(?` group at position {at} (look-around or flags) is not supported"
                        ));
                    }
                }
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(format!("groups nest deeper than {MAX_DEPTH} levels"));
                }
                let inner = self.alternation()?;
                self.depth -= 1;
                if !self.eat(')') {
                    return Err(format!("unclosed `(` at position {at}"));
                }
                inner
            }
            ')' => return Err(format!("unbalanced `)` at position {at}")),
            '{' if !self.peek().is_some_and(|d| d.is_ascii_digit()) => Node::Literal('{'),
            '*' | '+' | '?' | '{' => {
                return Err(format!("quantifier `{c}` at position {at} follows nothing"));
            }
            '\\' => self.escape(false)?,
            c => Node::Literal(c),
        }))
    }

    fn escape(&mut self, in_class: bool) -> Result<Node, String> {
        let at = self.pos;
        let Some(c) = self.next() else {
            return Err("regex ends with `\\`".into());
        };
        let class = |negated, items: &[(char, char)]| Node::Class {
            negated,
            items: items.to_vec(),
        };
        Ok(match c {
            'd' => class(false, DIGIT),
            'D' => class(true, DIGIT),
            'w' => class(false, WORD),
            'W' => class(true, WORD),
            's' => class(false, SPACE),
            'S' => class(true, SPACE),
            'n' => Node::Literal('\n'),
            't' => Node::Literal('\t'),
            'r' => Node::Literal('\r'),
            'b' if in_class => Node::Literal('\x08'),
            'b' | 'B' | 'A' | 'z' | 'Z' | 'G' => {
                return Err(format!(
                    "`\\{c}` at position {at} has no grammar equivalent"
                ));
            }
            '1'..='9' => {
                return Err(format!(
                    "back-reference `\\{c}` at position {at} has no grammar equivalent"
                ));
            }
            c if c.is_ascii_alphanumeric() => {
                return Err(format!("unknown escape `\\{c}` at position {at}"));
            }
            c => Node::Literal(c),
        })
    }

    fn class(&mut self) -> Result<Node, String> {
        let start = self.pos;
        let negated = self.eat('^');
        let mut items = Vec::new();
        let mut first = true;
        loop {
            let Some(c) = self.next() else {
                return Err(format!("unclosed `[` at position {}", start - 1));
            };
            if c == ']' && !first {
                break;
            }
            first = false;
            let lo =
                if c == '\\' {
                    match self.escape(true)? {
                        Node::Literal(l) => l,
                        Node::Class {
                            negated: false,
                            items: more,
                        } => {
                            items.extend(more);
                            continue;
                        }
                        _ => return Err(
                            "negated class escapes (\\D \\W \\S) inside `[...]` are not supported"
                                .into(),
                        ),
                    }
                } else {
                    c
                };
            if self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|&n| n != ']') {
                self.pos += 1;
                let hi = match self.next() {
                    Some('\\') => match self.escape(true)? {
                        Node::Literal(h) => h,
                        _ => return Err("a class escape cannot end a range".into()),
                    },
                    Some(h) => h,
                    None => return Err("unclosed `[`".into()),
                };
                if hi < lo {
                    return Err(format!("range `{lo}-{hi}` is reversed"));
                }
                items.push((lo, hi));
            } else {
                items.push((lo, lo));
            }
        }
        Ok(Node::Class { negated, items })
    }

    /// At most one quantifier (plus a lazy `?`) per atom, as Python and JavaScript require:
    /// a stacked one (`a**`) is refused rather than nested without bound.
    fn quantified(&mut self, atom: Node) -> Result<Node, String> {
        let Some((min, max)) = self.quantifier()? else {
            return Ok(atom);
        };
        self.eat('?'); // lazy: same language
        if self.quantifier_follows() {
            return Err(format!(
                "quantifier at {} follows another quantifier; group the inner one",
                self.pos
            ));
        }
        Ok(Node::Repeat {
            node: Box::new(atom),
            min,
            max,
        })
    }

    fn quantifier_follows(&self) -> bool {
        match self.peek() {
            Some('*' | '+' | '?') => true,
            Some('{') => self.counted_follows(),
            _ => false,
        }
    }

    /// The quantifier at the cursor, consumed: `(min, max)`, `None` for no upper bound.
    fn quantifier(&mut self) -> Result<Option<(u32, Option<u32>)>, String> {
        let bounds = match self.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') if self.counted_follows() => {
                self.pos += 1;
                let min = self.number()?;
                let max = if self.eat(',') {
                    if self.peek() == Some('}') {
                        None
                    } else {
                        Some(self.number()?)
                    }
                } else {
                    Some(min)
                };
                if !self.eat('}') {
                    return Err("unclosed `{` quantifier".into());
                }
                if let Some(m) = max.filter(|&m| m < min) {
                    return Err(format!("quantifier {{{min},{m}}} is reversed"));
                }
                return Ok(Some((min, max)));
            }
            _ => return Ok(None),
        };
        self.pos += 1;
        Ok(Some(bounds))
    }

    /// `{` starts a counted quantifier only when digits follow (else it is a literal brace).
    fn counted_follows(&self) -> bool {
        self.chars
            .get(self.pos + 1)
            .is_some_and(|c| c.is_ascii_digit())
    }

    fn number(&mut self) -> Result<u32, String> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits: String = self.chars[start..self.pos].iter().collect();
        digits
            .parse::<u32>()
            .map_err(|_| format!("bad repetition count at position {start}"))
    }
}

fn emit(node: &Node, out: &mut String) {
    match node {
        Node::Literal(c) => {
            out.push('"');
            push_escaped(*c, out, &['"', '\\']);
            out.push('"');
        }
        Node::Class { negated, items } => {
            out.push('[');
            if *negated {
                out.push('^');
            }
            for &(lo, hi) in items {
                push_escaped(lo, out, &[']', '\\', '-', '^', '[']);
                if hi != lo {
                    out.push('-');
                    push_escaped(hi, out, &[']', '\\', '-', '^', '[']);
                }
            }
            out.push(']');
        }
        Node::Concat(items) => {
            // Runs of literal characters become one string literal: `"yes"`, not `"y" "e" "s"`.
            let mut parts: Vec<String> = Vec::new();
            let mut run = String::new();
            for item in items {
                if let Node::Literal(c) = item {
                    run.push(*c);
                    continue;
                }
                if !run.is_empty() {
                    parts.push(literal(&std::mem::take(&mut run)));
                }
                let mut part = String::new();
                emit(item, &mut part);
                parts.push(part);
            }
            if !run.is_empty() || parts.is_empty() {
                parts.push(literal(&run));
            }
            if parts.len() == 1 {
                out.push_str(&parts[0]);
            } else {
                out.push('(');
                out.push_str(&parts.join(" "));
                out.push(')');
            }
        }
        Node::Alt(alts) => {
            out.push('(');
            for (i, alt) in alts.iter().enumerate() {
                if i > 0 {
                    out.push_str(" | ");
                }
                emit(alt, out);
            }
            out.push(')');
        }
        Node::Repeat { node, min, max } => {
            out.push('(');
            emit(node, out);
            out.push(')');
            match (min, max) {
                (0, None) => out.push('*'),
                (1, None) => out.push('+'),
                (0, Some(1)) => out.push('?'),
                (n, None) => out.push_str(&format!("{{{n},}}")),
                (n, Some(m)) if n == m => out.push_str(&format!("{{{n}}}")),
                (n, Some(m)) => out.push_str(&format!("{{{n},{m}}}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_become_grammar_and_regex() {
        let c = vec![
            "yes".to_string(),
            "no \"way\"".to_string(),
            "a.b".to_string(),
        ];
        assert_eq!(
            from_choice(&c).unwrap(),
            r#"root ::= "yes" | "no \"way\"" | "a.b""#
        );
        assert_eq!(regex_for_choice(&c).unwrap(), r#"(yes|no "way"|a\.b)"#);
        assert!(from_choice(&[]).is_err());
    }

    #[test]
    fn regexes_translate() {
        assert_eq!(from_regex("ab").unwrap(), r#"root ::= "ab""#);
        assert_eq!(
            from_regex(r"^\d{3}-\d{4}$").unwrap(),
            r#"root ::= (([0-9]){3} "-" ([0-9]){4})"#
        );
        assert_eq!(
            from_regex("(yes|no)").unwrap(),
            r#"root ::= ("yes" | "no")"#
        );
        assert_eq!(
            from_regex("[A-Z][a-z]+").unwrap(),
            r#"root ::= ([A-Z] ([a-z])+)"#
        );
        assert_eq!(from_regex("[^\\]x-]?").unwrap(), r#"root ::= ([^\]x\-])?"#);
        assert_eq!(
            from_regex("a{2,}b{1,3}?").unwrap(),
            r#"root ::= (("a"){2,} ("b"){1,3})"#
        );
        assert_eq!(
            from_regex(r"\w\s.").unwrap(),
            r#"root ::= ([a-zA-Z0-9_] [ \t\n\r\x0B-\x0C] [^\n])"#
        );
        assert_eq!(
            from_regex(r"(?:a|\.)*").unwrap(),
            r#"root ::= (("a" | "."))*"#
        );
        assert_eq!(from_regex("(?P<n>x)").unwrap(), r#"root ::= "x""#);
        assert_eq!(from_regex("x{a}").unwrap(), r#"root ::= "x{a}""#);
        assert_eq!(from_regex("").unwrap(), r#"root ::= """#);
        assert_eq!(from_regex("a|").unwrap(), r#"root ::= ("a" | "")"#);
    }

    #[test]
    fn untranslatable_regexes_are_refused_with_reasons() {
        for (re, why) in [
            (r"(a)\1", "back-reference"),
            ("(?=a)", "look-around"),
            ("(?<=a)b", "look-behind"),
            (r"\bword", "no grammar equivalent"),
            ("(ab", "unclosed `(`"),
            ("ab)", "unbalanced"),
            ("[ab", "unclosed `[`"),
            (&"(".repeat(100_000), "nest deeper"),
            ("*a", "follows nothing"),
            ("[z-a]", "reversed"),
            ("a{3,1}", "reversed"),
            ("a**", "follows another quantifier"),
            (
                &format!("a{}", "*".repeat(100_000)),
                "follows another quantifier",
            ),
            ("a{2}{3}", "follows another quantifier"),
            (r"\q", "unknown escape"),
        ] {
            let e = from_regex(re).unwrap_err();
            assert!(e.contains(why), "{re}: {e}");
        }
    }
}
