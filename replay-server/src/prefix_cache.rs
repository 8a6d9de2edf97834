//! A model of one server's prefix cache, for routing simulations: what a vLLM-style server
//! would find cached of a prompt, and what it evicts when its memory is full. Routing is
//! worth measuring only against a cache that behaves like the real one, so this follows
//! vLLM's automatic prefix caching: the prompt is cut into fixed-size blocks, each block is
//! named by a hash chained over every block before it (a block is reusable only after the
//! same prefix), a hit is the run of leading blocks already held, and memory is a bounded
//! LRU of blocks. Tokens are whitespace-separated words (a model, not a tokenizer).

use std::collections::{BTreeMap, HashMap};

/// A bounded LRU of prompt blocks.
#[derive(Debug)]
pub struct PrefixCache {
    block_tokens: usize,
    capacity_blocks: usize,
    /// Block hash → the tick it was last used.
    used: HashMap<u64, u64>,
    /// Tick → block hash, oldest first (for eviction).
    by_age: BTreeMap<u64, u64>,
    tick: u64,
}

/// What a lookup found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lookup {
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Leading tokens already cached (whole blocks).
    pub cached_tokens: usize,
}

impl PrefixCache {
    /// A cache holding at most `capacity_tokens` tokens in blocks of `block_tokens`.
    pub fn new(capacity_tokens: usize, block_tokens: usize) -> PrefixCache {
        let block_tokens = block_tokens.max(1);
        PrefixCache {
            block_tokens,
            capacity_blocks: capacity_tokens / block_tokens,
            used: HashMap::new(),
            by_age: BTreeMap::new(),
            tick: 0,
        }
    }

    /// Blocks held now.
    pub fn len_blocks(&self) -> usize {
        self.used.len()
    }

    /// Serves a prompt: counts its cached leading blocks, then caches (or refreshes) every
    /// whole block of it, evicting the least recently used blocks beyond capacity.
    pub fn serve(&mut self, tokens: &[u64]) -> Lookup {
        let hashes = block_hashes(tokens, self.block_tokens);
        let hit_blocks = hashes
            .iter()
            .take_while(|h| self.used.contains_key(h))
            .count();
        for &h in &hashes {
            self.touch(h);
        }
        while self.used.len() > self.capacity_blocks {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            self.used.remove(&oldest);
        }
        Lookup {
            prompt_tokens: tokens.len(),
            cached_tokens: hit_blocks * self.block_tokens,
        }
    }

    fn touch(&mut self, h: u64) {
        self.tick += 1;
        if let Some(old) = self.used.insert(h, self.tick) {
            self.by_age.remove(&old);
        }
        self.by_age.insert(self.tick, h);
    }
}

/// The chained hashes of a prompt's whole blocks (a trailing partial block is not cached).
fn block_hashes(tokens: &[u64], block_tokens: usize) -> Vec<u64> {
    let mut parent = 0x9e37_79b9_7f4a_7c15_u64;
    tokens
        .chunks_exact(block_tokens)
        .map(|block| {
            for &t in block {
                parent = mix(parent ^ t);
            }
            parent
        })
        .collect()
}

/// The splitmix64 finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A word's token id (FNV-1a).
fn token(word: &str) -> u64 {
    word.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The tokens of a chat request body: for every message, its role as one token, then the
/// words of its content (text, or the text parts of a content list).
pub fn prompt_tokens(body: &serde_json::Value) -> Vec<u64> {
    let mut out = Vec::new();
    for m in body["messages"].as_array().into_iter().flatten() {
        out.push(token(m["role"].as_str().unwrap_or("user")) ^ 0x5555);
        let mut text = |s: &str| out.extend(s.split_whitespace().map(token));
        match &m["content"] {
            serde_json::Value::String(s) => text(s),
            serde_json::Value::Array(parts) => {
                for p in parts {
                    text(p["text"].as_str().unwrap_or_default());
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn words(n: usize, seed: &str) -> Vec<u64> {
        (0..n).map(|i| token(&format!("{seed}{i}"))).collect()
    }

    #[test]
    fn a_repeated_prefix_hits_in_whole_blocks_and_a_changed_one_does_not() {
        let mut c = PrefixCache::new(1000, 16);
        let a = words(40, "a");
        assert_eq!(c.serve(&a).cached_tokens, 0);
        assert_eq!(c.len_blocks(), 2, "the partial third block is not cached");
        let mut longer = a.clone();
        longer.extend(words(30, "b"));
        assert_eq!(
            c.serve(&longer),
            Lookup {
                prompt_tokens: 70,
                cached_tokens: 32
            }
        );
        // Same tokens after a different first token: nothing is reusable.
        let mut other = longer.clone();
        other[0] = token("x");
        assert_eq!(c.serve(&other).cached_tokens, 0);
    }

    #[test]
    fn the_least_recently_used_blocks_go_first() {
        let mut c = PrefixCache::new(64, 16); // 4 blocks
        let (a, b) = (words(32, "a"), words(32, "b"));
        c.serve(&a);
        c.serve(&b);
        c.serve(&a); // a is fresher than b now
        c.serve(&words(32, "c")); // evicts b
        assert_eq!(c.len_blocks(), 4);
        assert_eq!(c.serve(&a).cached_tokens, 32);
        assert_eq!(c.serve(&b).cached_tokens, 0);
    }

    #[test]
    fn prompts_are_read_from_chat_bodies() {
        let body = json!({"messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi there"}]},
        ]});
        assert_eq!(prompt_tokens(&body).len(), 6);
        let user_first = json!({"messages": [{"role": "user", "content": "be brief"}]});
        assert_ne!(prompt_tokens(&user_first)[0], prompt_tokens(&body)[0]);
    }
}
