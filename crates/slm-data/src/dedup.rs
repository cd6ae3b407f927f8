//! Duplicate detection: exact duplicates by fingerprint of the canonical text, near-duplicates by MinHash
//! over word 5-gram shingles with locality-sensitive hashing (LSH), verified by exact Jaccard similarity.
//!
//! LSH uses 16 bands of 4 rows (64 hash functions): a pair at Jaccard 0.8 becomes a candidate with
//! probability 1 - (1 - 0.8^4)^16 > 0.9998, and at 0.5 with probability 0.64. Candidates are then
//! checked exactly, so the threshold is never approximated; only pairs LSH misses can be missed.

use crate::records::Fields;
use crate::text::{hash64, mix64};

/// Words per shingle.
pub const SHINGLE_WORDS: usize = 5;
/// LSH bands.
pub const BANDS: usize = 16;
/// Rows (hash functions) per band.
pub const ROWS: usize = 4;
/// A bucket with more members than this pairs only its first members (guards against quadratic blow-up
/// on data full of one boilerplate text).
const MAX_BUCKET: usize = 64;

/// Which fields of a record make up its text for duplicate detection.
#[derive(Debug, Clone, Default)]
pub struct TextFields {
    /// Only these fields, in this order. `None`: every string field not in `exclude`.
    pub include: Option<Vec<String>>,
    /// Fields that never count as text (the label, the group).
    pub exclude: Vec<String>,
}

impl TextFields {
    /// The record's text: the chosen fields' string values joined by newlines.
    pub fn text_of(&self, fields: &Fields) -> String {
        let mut out = String::new();
        let mut push = |s: &str| {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(s);
        };
        match &self.include {
            Some(names) => {
                for name in names {
                    if let Some(v) = crate::records::field_str(fields, name) {
                        push(&v);
                    }
                }
            }
            None => {
                for (name, value) in fields {
                    if let (Some(s), false) = (value.as_str(), self.exclude.contains(name)) {
                        push(s);
                    }
                }
            }
        }
        out
    }
}

/// The sorted, distinct hashes of the word 5-grams of a canonical text; a text of fewer words is one
/// shingle.
pub fn shingles(canonical: &str) -> Vec<u64> {
    let words: Vec<&str> = canonical.split(' ').filter(|w| !w.is_empty()).collect();
    let mut out: Vec<u64> = if words.len() <= SHINGLE_WORDS {
        vec![hash64(canonical.as_bytes(), 0)]
    } else {
        words.windows(SHINGLE_WORDS).map(|w| hash64(w.join(" ").as_bytes(), 0)).collect()
    };
    out.sort_unstable();
    out.dedup();
    out
}

/// The LSH band keys of a shingle set: one key per band, each the hash of that band's `ROWS` MinHash
/// values and the band's index.
pub fn band_keys(shingles: &[u64]) -> [u64; BANDS] {
    let mut keys = [0u64; BANDS];
    for (band, key) in keys.iter_mut().enumerate() {
        let mut h = mix64(band as u64);
        for row in 0..ROWS {
            let seed = mix64((band * ROWS + row) as u64 + 0x5EED);
            let min = shingles.iter().map(|&s| mix64(s ^ seed)).min().unwrap_or(0);
            h = mix64(h ^ min);
        }
        *key = h;
    }
    keys
}

/// Jaccard similarity of two sorted, distinct sets.
pub fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - common;
    if union == 0 { 1.0 } else { common as f64 / union as f64 }
}

/// Candidate pairs `(i, j)`, `i < j`, of items that share a band key. `entries` holds `(key, item)` for
/// every band of every item. Sorted and distinct.
pub fn candidate_pairs(mut entries: Vec<(u64, u32)>) -> Vec<(u32, u32)> {
    entries.sort_unstable();
    let mut pairs = Vec::new();
    for bucket in entries.chunk_by(|a, b| a.0 == b.0) {
        let members = &bucket[..bucket.len().min(MAX_BUCKET)];
        for (n, &(_, i)) in members.iter().enumerate() {
            for &(_, j) in &members[n + 1..] {
                pairs.push((i.min(j), i.max(j)));
            }
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

/// Disjoint sets over `0..n` with path halving and union by size.
#[derive(Debug, Clone)]
pub struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    /// `n` singleton sets.
    pub fn new(n: usize) -> Self {
        UnionFind { parent: (0..n as u32).collect(), size: vec![1; n] }
    }

    /// The representative of `x`'s set.
    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    /// Merges the sets of `a` and `b`.
    pub fn union(&mut self, a: u32, b: u32) {
        let (a, b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        let (big, small) = if self.size[a as usize] >= self.size[b as usize] { (a, b) } else { (b, a) };
        self.parent[small as usize] = big;
        self.size[big as usize] += self.size[small as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::canonical;

    #[test]
    fn near_duplicates_become_candidates_and_verify() {
        let a =
            canonical("the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat all day long");
        let b =
            canonical("the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat all day long!");
        let c = canonical("an entirely different sentence about training small language models on a laptop");
        let (sa, sb, sc) = (shingles(&a), shingles(&b), shingles(&c));
        let j = jaccard(&sa, &sb);
        assert!(j > 0.85 && j < 1.0, "{j}");
        assert_eq!(jaccard(&sa, &sc), 0.0);
        let mut entries = Vec::new();
        for (id, s) in [&sa, &sb, &sc].into_iter().enumerate() {
            entries.extend(band_keys(s).into_iter().map(|k| (k, id as u32)));
        }
        assert_eq!(candidate_pairs(entries), vec![(0, 1)]);
    }

    #[test]
    fn short_texts_are_one_shingle() {
        assert_eq!(shingles("ok then").len(), 1);
        assert_eq!(shingles("a b c d e f").len(), 2);
    }

    #[test]
    fn text_fields_skip_excluded_and_non_strings() {
        let f: Fields = serde_json::from_str(r#"{"label":"spam","text":"hi","n":3,"t2":"yo"}"#).unwrap();
        let tf = TextFields { include: None, exclude: vec!["label".into()] };
        assert_eq!(tf.text_of(&f), "hi\nyo");
        let tf = TextFields { include: Some(vec!["t2".into(), "n".into()]), exclude: vec![] };
        assert_eq!(tf.text_of(&f), "yo\n3");
    }

    #[test]
    fn union_find_merges_transitively() {
        let mut uf = UnionFind::new(5);
        uf.union(0, 1);
        uf.union(3, 1);
        assert_eq!(uf.find(3), uf.find(0));
        assert_ne!(uf.find(2), uf.find(0));
    }
}
