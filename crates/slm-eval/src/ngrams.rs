//! Exact n-gram counting for one segment. Tokens are interned to small integers per segment and an
//! n-gram of up to four tokens is packed into a `u128` key (order in the top bits, 31 bits per token),
//! so counting is sorting integers, with no string allocation and no hash collisions.

use rustc_hash::FxHashMap;

/// Maps the distinct tokens of one segment (hypothesis and references) to `0..n`.
#[derive(Default)]
pub struct Interner<'a> {
    ids: FxHashMap<&'a str, u32>,
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

/// Sorted (key, count) pairs of every n-gram of order `1..=max_order` of `ids`.
///
/// # Panics
/// If `max_order > 4`.
pub fn count(ids: &[u32], max_order: usize) -> Vec<(u128, u32)> {
    assert!(max_order <= 4, "n-gram keys hold at most four tokens");
    let mut keys: Vec<u128> = Vec::with_capacity(ids.len() * max_order);
    for n in 1..=max_order {
        for window in ids.windows(n) {
            let mut key = (n as u128) << 124;
            for (k, &id) in window.iter().enumerate() {
                key |= u128::from(id) << (31 * k);
            }
            keys.push(key);
        }
    }
    runs(keys)
}

/// Sorts keys and counts equal runs.
pub fn runs(mut keys: Vec<u128>) -> Vec<(u128, u32)> {
    keys.sort_unstable();
    let mut out: Vec<(u128, u32)> = Vec::with_capacity(keys.len());
    for k in keys {
        match out.last_mut() {
            Some((last, c)) if *last == k => *c += 1,
            _ => out.push((k, 1)),
        }
    }
    out
}

/// The order (1..=4) of an n-gram key made by [`count`].
pub fn order(key: u128) -> usize {
    (key >> 124) as usize
}

/// Merges sorted count lists keeping the maximum count of each key.
pub fn max_merge(a: &[(u128, u32)], b: &[(u128, u32)]) -> Vec<(u128, u32)> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if j == b.len() || (i < a.len() && a[i].0 < b[j].0) {
            out.push(a[i]);
            i += 1;
        } else if i == a.len() || b[j].0 < a[i].0 {
            out.push(b[j]);
            j += 1;
        } else {
            out.push((a[i].0, a[i].1.max(b[j].1)));
            i += 1;
            j += 1;
        }
    }
    out
}

/// Calls `f(key, hyp_count, ref_count)` for every key of `hyp`; `ref_count` is 0 where `refs` lacks it.
pub fn for_each_match(
    hyp: &[(u128, u32)],
    refs: &[(u128, u32)],
    mut f: impl FnMut(u128, u32, u32),
) {
    let mut j = 0;
    for &(key, c) in hyp {
        while j < refs.len() && refs[j].0 < key {
            j += 1;
        }
        let r = if j < refs.len() && refs[j].0 == key {
            refs[j].1
        } else {
            0
        };
        f(key, c, r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_merges() {
        let mut interner = Interner::default();
        let ids = interner.ids("a b a b".split(' '));
        let c = count(&ids, 2);
        let unigrams: Vec<u32> = c
            .iter()
            .filter(|(k, _)| order(*k) == 1)
            .map(|x| x.1)
            .collect();
        let bigrams: Vec<u32> = c
            .iter()
            .filter(|(k, _)| order(*k) == 2)
            .map(|x| x.1)
            .collect();
        assert_eq!(unigrams, [2, 2]);
        assert_eq!(bigrams.iter().sum::<u32>(), 3); // ab, ba, ab
        let m = max_merge(&[(1, 2), (3, 1)], &[(1, 1), (2, 5)]);
        assert_eq!(m, [(1, 2), (2, 5), (3, 1)]);
    }
}
