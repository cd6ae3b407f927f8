//! Exact n-gram matching for one segment. Tokens are interned to small integers per segment and an
//! n-gram is packed into a `u128` key with a sentinel bit above it (so keys of different orders never
//! meet), which makes counting hash-map work on integers with no string allocation and no collisions.
//!
//! Clipped matches, sum over n-grams g of min(hyp_g, ref_g), are counted by walking the hypothesis
//! n-grams and consuming the reference's remaining count of each: no sorting, one map per segment.

use rustc_hash::FxHashMap;

/// Maps the distinct tokens of one segment (hypothesis and references) to `0..n`.
pub struct Interner<'a> {
    ids: FxHashMap<&'a str, u32>,
}

impl Default for Interner<'_> {
    fn default() -> Self {
        // Sized for a typical segment, so that small segments never rehash.
        Interner { ids: FxHashMap::with_capacity_and_hasher(128, Default::default()) }
    }
}

impl<'a> Interner<'a> {
    /// The ids of `tokens`, allocating new ones as needed.
    pub fn ids(&mut self, tokens: impl Iterator<Item = &'a str>) -> Vec<u32> {
        tokens
            .map(|t| {
                let next = self.ids.len() as u32;
                *self.ids.entry(t).or_insert(next)
            })
            .collect()
    }
}

/// The key of an n-gram of symbols of `bits` bits each: the symbols packed, then a sentinel 1 above
/// them. `n * bits` must be below 127.
pub fn key(symbols: &[u32], bits: u32) -> u128 {
    let mut k = 1u128;
    for &s in symbols {
        k = (k << bits) | u128::from(s);
    }
    k
}

/// Reference n-gram counts, reusable across segments: an open-addressing table (linear probing) of
/// `u128` keys whose slots carry a generation stamp, so that [`Counts::clear`] is O(1) and memory is
/// reused from segment to segment. Several times faster than a general hash map for this work.
#[derive(Default)]
pub struct Counts {
    slots: Vec<Slot>,
    generation: u32,
    len: usize,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    key: u128,
    count: u32,
    generation: u32,
}

impl Counts {
    /// Forgets all counts, keeping the memory.
    pub fn clear(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Stamps wrapped around: really clear once every 2^32 segments.
            self.slots.iter_mut().for_each(|s| s.generation = 0);
            self.generation = 1;
        }
        self.len = 0;
    }

    /// The home slot of `key`: Fibonacci hashing of the folded key, taking the product's top bits.
    fn home(&self, key: u128) -> usize {
        let folded = (key as u64) ^ ((key >> 64) as u64).rotate_left(29);
        let bits = self.slots.len().trailing_zeros();
        (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
    }

    /// Makes room for `extra` more keys (the table stays at most half full).
    fn reserve(&mut self, extra: usize) {
        let needed = ((self.len + extra) * 2).next_power_of_two().max(64);
        if needed <= self.slots.len() {
            return;
        }
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); needed]);
        let generation = self.generation;
        self.len = 0;
        for s in old.into_iter().filter(|s| s.generation == generation && generation != 0) {
            *self.slot_mut(s.key) = s;
        }
    }

    /// The slot of `key`: its own if present, else the empty one where it belongs (claimed for it).
    fn slot_mut(&mut self, key: u128) -> &mut Slot {
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let s = self.slots[i];
            if s.generation != self.generation {
                self.len += 1;
                self.slots[i] = Slot { key, count: 0, generation: self.generation };
                return &mut self.slots[i];
            }
            if s.key == key {
                return &mut self.slots[i];
            }
            i = (i + 1) & mask;
        }
    }

    fn get_mut(&mut self, key: u128) -> Option<&mut Slot> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let s = self.slots[i];
            if s.generation != self.generation {
                return None;
            }
            if s.key == key {
                return Some(&mut self.slots[i]);
            }
            i = (i + 1) & mask;
        }
    }

    /// Counts every n-gram of order `1..=max_order` of `symbols`.
    pub fn add_all(&mut self, symbols: &[u32], max_order: usize, bits: u32) {
        if self.generation == 0 {
            self.generation = 1;
        }
        self.reserve(symbols.len() * max_order);
        for_each_key(symbols, max_order, bits, |_, k| self.slot_mut(k).count += 1);
    }

    /// Raises each count to at least the count in `other` (the clipping count over several references).
    pub fn max_with(&mut self, other: &Counts) {
        if self.generation == 0 {
            self.generation = 1;
        }
        self.reserve(other.len);
        for s in other.slots.iter().filter(|s| s.generation == other.generation && other.generation != 0) {
            let mine = self.slot_mut(s.key);
            mine.count = mine.count.max(s.count);
        }
    }

    /// Consumes one occurrence of `key` if any is left; says whether it did.
    pub fn take(&mut self, key: u128) -> bool {
        match self.get_mut(key) {
            Some(s) if s.count > 0 => {
                s.count -= 1;
                true
            }
            _ => false,
        }
    }
}

/// Calls `f(n, key)` for every n-gram of order `n` in `1..=max_order` of `symbols`, building the keys of
/// all orders that start at one position incrementally (one shift per key). The keys equal [`key`]'s.
fn for_each_key(symbols: &[u32], max_order: usize, bits: u32, mut f: impl FnMut(usize, u128)) {
    for start in 0..symbols.len() {
        let mut k = 1u128;
        for (n, &s) in symbols[start..].iter().take(max_order).enumerate() {
            k = (k << bits) | u128::from(s);
            f(n + 1, k);
        }
    }
}

/// Clipped matches per order (index n-1) of the n-grams of `symbols` against `refs`, which it consumes.
pub fn clipped_matches(symbols: &[u32], refs: &mut Counts, max_order: usize, bits: u32, matches: &mut [u64]) {
    for_each_key(symbols, max_order, bits, |n, k| {
        if refs.take(k) {
            matches[n - 1] += 1;
        }
    });
}

/// Number of n-grams of order n in a sequence of `len` symbols.
pub fn windows(len: usize, n: usize) -> u64 {
    (len + 1).saturating_sub(n) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_counts_min_of_hyp_and_ref() {
        let mut interner = Interner::default();
        let hyp = interner.ids("the the the cat".split(' '));
        let r = interner.ids("the cat the mat".split(' '));
        let mut refs = Counts::default();
        refs.add_all(&r, 2, 31);
        let mut m = [0u64; 2];
        clipped_matches(&hyp, &mut refs, 2, 31, &mut m);
        // unigrams: the x min(3,2) + cat x 1 = 3; bigrams: "the cat" 1 ("the the" not in ref)
        assert_eq!(m, [3, 1]);
        assert_eq!(windows(4, 2), 3);
        assert_eq!(windows(1, 4), 0);
        assert_ne!(key(&[0], 21), key(&[0, 0], 21));
    }
}
