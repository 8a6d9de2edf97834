//! A continued answer (`continue-from`) made whole again: the server answers with the
//! continuation only (vLLM, SGLang; llama.cpp's streams) or with the prefilled text repeated
//! in front of it (llama.cpp's whole answers), and the caller gets one answer — the text it
//! already had, then the continuation — with usage summed over both requests.

use crate::types::{Generated, Usage};
use crate::wire::completion::RawAnswer;
use crate::wire::request::prefill;

/// Turns the continuation in `raw` into the whole answer. `repeats_prefill`: the server
/// may send the prefilled assistant text again at the start of the content.
pub fn continue_raw(raw: &mut RawAnswer, from: &Generated, repeats_prefill: bool) {
    let mut continuation = raw.content.take().unwrap_or_default();
    let sent = prefill(from);
    if repeats_prefill && !sent.is_empty() && continuation.starts_with(&sent) {
        continuation.drain(..sent.len());
    }
    let new_reasoning = raw.reasoning.take().filter(|r| !r.is_empty());
    let resumed_in_thought = from.content.is_empty() && !from.reasoning.is_empty();
    if resumed_in_thought && new_reasoning.is_none() {
        // The rest of the thought came as text (`...</think>answer`): reopen the block so
        // the reasoning split sees it whole.
        raw.content = Some(format!("<think>{}{continuation}", from.reasoning));
        raw.reasoning = None;
    } else {
        let mut content = from.content.clone();
        content.push_str(&continuation);
        raw.content = (!content.is_empty()).then_some(content);
        let mut reasoning = from.reasoning.clone();
        reasoning.push_str(new_reasoning.as_deref().unwrap_or_default());
        raw.reasoning = (!reasoning.is_empty()).then_some(reasoning);
    }
    raw.usage = sum_usage(from.usage, raw.usage);
}

fn add(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (None, None) => None,
        (x, y) => Some(x.unwrap_or(0).saturating_add(y.unwrap_or(0))),
    }
}

/// Usage of two requests that produced one answer.
pub fn sum_usage(a: Option<Usage>, b: Option<Usage>) -> Option<Usage> {
    match (a, b) {
        (Some(a), Some(b)) => Some(Usage {
            prompt_tokens: a.prompt_tokens.saturating_add(b.prompt_tokens),
            completion_tokens: a.completion_tokens.saturating_add(b.completion_tokens),
            total_tokens: a.total_tokens.saturating_add(b.total_tokens),
            reasoning_tokens: add(a.reasoning_tokens, b.reasoning_tokens),
            cached_tokens: add(a.cached_tokens, b.cached_tokens),
        }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(content: &str, reasoning: &str) -> Generated {
        Generated {
            content: content.into(),
            reasoning: reasoning.into(),
            usage: Some(Usage {
                prompt_tokens: 10,
                completion_tokens: 3,
                total_tokens: 13,
                reasoning_tokens: None,
                cached_tokens: None,
            }),
            backends: vec!["a".into()],
            attempts: 1,
        }
    }

    fn raw(content: &str, reasoning: Option<&str>) -> RawAnswer {
        RawAnswer {
            content: Some(content.into()),
            reasoning: reasoning.map(str::to_string),
            usage: Some(Usage {
                prompt_tokens: 13,
                completion_tokens: 2,
                total_tokens: 15,
                reasoning_tokens: None,
                cached_tokens: None,
            }),
            ..RawAnswer::default()
        }
    }

    #[test]
    fn the_continuation_follows_the_prefix_once() {
        // vLLM / SGLang: the continuation only.
        let mut r = raw(" three", None);
        continue_raw(&mut r, &from("one two", ""), false);
        assert_eq!(r.content.as_deref(), Some("one two three"));
        assert_eq!(r.usage.unwrap().completion_tokens, 5);
        // llama.cpp whole answers repeat the prefill.
        let mut r = raw("one two three", None);
        continue_raw(&mut r, &from("one two", ""), true);
        assert_eq!(r.content.as_deref(), Some("one two three"));
    }

    #[test]
    fn a_thought_cut_short_goes_on_as_reasoning() {
        // The rest of the thought as text: the block is reopened for the split.
        let mut r = raw(" more</think>\nAnswer", None);
        continue_raw(&mut r, &from("", "Let me think"), false);
        assert_eq!(
            r.content.as_deref(),
            Some("<think>Let me think more</think>\nAnswer")
        );
        // A server that splits reasoning itself.
        let mut r = raw("Answer", Some(" more"));
        continue_raw(&mut r, &from("", "Let me think"), false);
        assert_eq!(
            (r.content.as_deref(), r.reasoning.as_deref()),
            (Some("Answer"), Some("Let me think more"))
        );
    }
}
