//! Checking an answer against the `regex` constraint on the client, as JSON answers are
//! checked: a server that ignored the constraint (a backend kind that does not match the
//! server, an old server without guided decoding) gives `invalid-output`, not free text
//! passed off as constrained.
//!
//! The regex is the dialect `gbnf` translates, parsed by the same parser. Matching is a
//! Thompson NFA simulated breadth-first (a Pike VM): time O(text × program), no
//! backtracking, so no regex or answer can make it run away. The whole answer must match,
//! as constrained decoding produces it.

use crate::constraints::gbnf::{self, Node};

/// Largest compiled program checked; bigger ones (huge counted repeats) are not checked.
const MAX_PROGRAM: usize = 20_000;

/// One instruction of the compiled regex.
#[derive(Debug, Clone)]
enum Inst {
    /// One character in (or, negated, outside) the ranges.
    Char {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// Continue at both.
    Split(usize, usize),
    Jump(usize),
    Match,
}

/// Whether the whole `text` matches `regex`. `None` when the regex cannot be checked here
/// (outside the dialect, or too big once compiled).
pub fn matches(regex: &str, text: &str) -> Option<bool> {
    let node = gbnf::parse(regex).ok()?;
    let mut program = Vec::new();
    compile(&node, &mut program)?;
    program.push(Inst::Match);
    Some(run(&program, text))
}

fn emit(program: &mut Vec<Inst>, inst: Inst) -> Option<usize> {
    if program.len() >= MAX_PROGRAM {
        return None;
    }
    program.push(inst);
    Some(program.len() - 1)
}

fn compile(node: &Node, p: &mut Vec<Inst>) -> Option<()> {
    match node {
        Node::Literal(c) => {
            emit(
                p,
                Inst::Char {
                    negated: false,
                    ranges: vec![(*c, *c)],
                },
            )?;
        }
        Node::Class { negated, items } => {
            emit(
                p,
                Inst::Char {
                    negated: *negated,
                    ranges: items.clone(),
                },
            )?;
        }
        Node::Concat(items) => {
            for item in items {
                compile(item, p)?;
            }
        }
        Node::Alt(alts) => {
            // split L1, next; L1: alt0; jump end; next: split L2, ... ; last alt
            let mut jumps = Vec::new();
            for (i, alt) in alts.iter().enumerate() {
                if i + 1 < alts.len() {
                    let split = emit(p, Inst::Split(0, 0))?;
                    compile(alt, p)?;
                    jumps.push(emit(p, Inst::Jump(0))?);
                    let next = p.len();
                    p[split] = Inst::Split(split + 1, next);
                } else {
                    compile(alt, p)?;
                }
            }
            let end = p.len();
            for j in jumps {
                p[j] = Inst::Jump(end);
            }
        }
        Node::Repeat { node, min, max } => {
            for _ in 0..*min {
                let before = p.len();
                compile(node, p)?;
                // A body that compiles to nothing (`(?:){99999}`) is nothing however often it
                // is repeated: stop, or nested repeats of it would loop 99999^n times.
                if p.len() == before {
                    break;
                }
            }
            match max {
                None => {
                    // loop: split body, end; body; jump loop
                    let split = emit(p, Inst::Split(0, 0))?;
                    compile(node, p)?;
                    emit(p, Inst::Jump(split))?;
                    let end = p.len();
                    p[split] = Inst::Split(split + 1, end);
                }
                Some(max) => {
                    let mut splits = Vec::new();
                    for _ in *min..*max {
                        splits.push(emit(p, Inst::Split(0, 0))?);
                        compile(node, p)?;
                    }
                    let end = p.len();
                    for s in splits {
                        p[s] = Inst::Split(s + 1, end);
                    }
                }
            }
        }
    }
    Some(())
}

/// Runs the program over the whole text.
fn run(program: &[Inst], text: &str) -> bool {
    let mut current = Threads::new(program.len());
    let mut next = Threads::new(program.len());
    current.add(program, 0);
    for c in text.chars() {
        if current.list.is_empty() {
            return false;
        }
        next.clear();
        for &pc in &current.list {
            if let Inst::Char { negated, ranges } = &program[pc] {
                let inside = ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
                if inside != *negated {
                    next.add(program, pc + 1);
                }
            }
        }
        std::mem::swap(&mut current, &mut next);
    }
    current
        .list
        .iter()
        .any(|&pc| matches!(program[pc], Inst::Match))
}

/// The set of live instructions, in order, each once.
struct Threads {
    /// Instructions that read a character, or `Match`.
    list: Vec<usize>,
    /// Every instruction visited this step (for `clear`).
    marked: Vec<usize>,
    seen: Vec<bool>,
}

impl Threads {
    fn new(n: usize) -> Threads {
        Threads {
            list: Vec::new(),
            marked: Vec::new(),
            seen: vec![false; n],
        }
    }

    fn clear(&mut self) {
        for &pc in &self.marked {
            self.seen[pc] = false;
        }
        self.marked.clear();
        self.list.clear();
    }

    /// Adds `pc` and everything reachable from it without reading a character.
    fn add(&mut self, program: &[Inst], pc: usize) {
        let mut stack = vec![pc];
        while let Some(pc) = stack.pop() {
            if self.seen[pc] {
                continue;
            }
            self.seen[pc] = true;
            self.marked.push(pc);
            match program[pc] {
                Inst::Jump(to) => stack.push(to),
                Inst::Split(a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                _ => self.list.push(pc),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_answers_are_matched() {
        for (re, yes, no) in [
            ("[0-9]+", vec!["4", "42"], vec!["", "4 apples", "x"]),
            ("(yes|no)", vec!["yes", "no"], vec!["maybe", "yesno"]),
            ("a{2,3}b?", vec!["aa", "aaa", "aab"], vec!["a", "aaaa", "b"]),
            ("\\d{3}-\\w+", vec!["123-ab_c"], vec!["12-ab", "123-"]),
            ("^[^x]*$", vec!["", "abc"], vec!["axb"]),
            ("(a*)*b", vec!["b", "aaab"], vec!["aaaa"]),
            ("é.+", vec!["éé"], vec!["é", "é\n"]),
        ] {
            for text in yes {
                assert_eq!(matches(re, text), Some(true), "{re} on {text:?}");
            }
            for text in no {
                assert_eq!(matches(re, text), Some(false), "{re} on {text:?}");
            }
        }
    }

    #[test]
    fn runaway_inputs_stay_linear_and_unknown_regexes_are_not_judged() {
        let long = "a".repeat(100_000);
        assert_eq!(matches("(a|a)*(a|a)*c", &long), Some(false));
        assert_eq!(matches("a{1000}{1000}", "a"), None); // too big to compile
        assert_eq!(matches("(?=a)", "a"), None); // outside the dialect
    }

    /// Found by the `regex` fuzz target: repeats of a group that compiles to nothing
    /// looped 99999 × 99999 times (2.7 s natively; far longer in the component).
    #[test]
    fn nested_repeats_of_an_empty_group_compile_at_once() {
        let started = std::time::Instant::now();
        assert_eq!(matches("(?:[^a]aaa(?:){99999}){99999}a", ""), None);
        assert_eq!(
            matches("(?:(?:(?:){99999}){99999}){99999}x", "x"),
            Some(true)
        );
        assert_eq!(matches("(?:){99999}b", "b"), Some(true));
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
    }
}
