//! Structure from fuzz bytes: the targets read their choices (sizes, options, which piece of
//! text comes next) from the input, so a fuzzer's mutations become well-formed streams, JSON
//! and configurations instead of bytes that never get past the first parser. The same idea
//! as the `arbitrary` crate's `Unstructured`, kept here so the stable tests need no extra
//! dependency; an exhausted input reads as zeros.

/// A cursor over fuzz bytes.
pub struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(bytes: &'a [u8]) -> Input<'a> {
        Input { bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((b, rest)) => {
                self.bytes = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 256 {
            usize::from(self.byte()) % n
        } else {
            self.u32() as usize % n
        }
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// Up to `max` raw bytes.
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = self.below(max + 1).min(self.bytes.len());
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        head
    }

    /// Up to `max` bytes as text (invalid UTF-8 replaced).
    pub fn text(&mut self, max: usize) -> String {
        String::from_utf8_lossy(self.bytes(max)).into_owned()
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    /// Text made of up to `count` pieces from `alphabet`, or raw text now and then.
    pub fn words(&mut self, alphabet: &[&str], count: usize) -> String {
        let n = self.below(count + 1);
        let mut out = String::new();
        for _ in 0..n {
            if self.byte() == 0xff {
                out.push_str(&self.text(8));
            } else {
                out.push_str(self.pick(alphabet));
            }
        }
        out
    }

    /// Sorted cut points into a text of `len` bytes (any byte, not only char boundaries).
    pub fn cuts(&mut self, len: usize) -> Vec<usize> {
        let n = self.below(9);
        let mut cuts: Vec<usize> = (0..n).map(|_| self.below(len + 1)).collect();
        cuts.sort_unstable();
        cuts
    }
}

/// `bytes` cut at `cuts` (sorted), empty pieces included.
pub fn pieces<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for &c in cuts {
        let c = c.clamp(from, bytes.len());
        out.push(&bytes[from..c]);
        from = c;
    }
    out.push(&bytes[from..]);
    out
}

/// The longest prefix of `text` of at most `n` bytes that ends on a char boundary.
pub fn floor(text: &str, n: usize) -> &str {
    let mut n = n.min(text.len());
    while !text.is_char_boundary(n) {
        n -= 1;
    }
    &text[..n]
}
