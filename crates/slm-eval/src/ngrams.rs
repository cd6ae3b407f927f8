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
        Interner {
            ids: FxHashMap::with_capacity_and_hasher(128, Default::default()),
        }
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

/// Reference n-gram counts, reusable across segments.
#[derive(Default)]
pub struct Counts {
    map: FxHashMap<u128, u32>,
}

impl Counts {
    /// Forgets all counts, keeping the memory.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Counts every n-gram of order `1..=max_order` of `symbols`.
    pub fn add_all(&mut self, symbols: &[u32], max_order: usize, bits: u32) {
        for n in 1..=max_order {
            for w in symbols.windows(n) {
                *self.map.entry(key(w, bits)).or_insert(0) += 1;
            }
        }
    }

    /// Raises each count to at least the count in `other` (the clipping count over several references).
    pub fn max_with(&mut self, other: &Counts) {
        for (&k, &c) in &other.map {
            let e = self.map.entry(k).or_insert(0);
            *e = (*e).max(c);
        }
    }

    /// Consumes one occurrence of `key` if any is left; says whether it did.
    pub fn take(&mut self, key: u128) -> bool {
        match self.map.get_mut(&key) {
            Some(c) if *c > 0 => {
                *c -= 1;
                true
            }
            _ => false,
        }
    }
}

/// Clipped matches per order (index n-1) of the n-grams of `symbols` against `refs`, which it consumes.
pub fn clipped_matches(
    symbols: &[u32],
    refs: &mut Counts,
    max_order: usize,
    bits: u32,
    matches: &mut [u64],
) {
    for n in 1..=max_order {
        for w in symbols.windows(n) {
            if refs.take(key(w, bits)) {
                matches[n - 1] += 1;
            }
        }
    }
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
