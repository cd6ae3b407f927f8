//! chrF and chrF++ exactly as sacrebleu 2.x computes them: character n-grams up to order 6 (whitespace
//! removed), word n-grams up to `word_order` (2 for chrF++) after sacrebleu's punctuation splitting,
//! F-beta with beta 2 over the averaged precision and recall, the best reference per segment chosen by its
//! own F-score, statistics summed over the corpus.

use std::borrow::Cow;

use rayon::prelude::*;

use crate::bleu::SACREBLEU_VERSION;
use crate::ngrams::{Counts, Interner, clipped_matches, windows};
use crate::pystr;
use crate::segments::Corpus;

/// How chrF is computed.
#[derive(Debug, Clone, Copy)]
pub struct ChrfConfig {
    /// Character n-gram order (6).
    pub char_order: usize,
    /// Word n-gram order: 0 for chrF, 2 for chrF++.
    pub word_order: usize,
    /// Recall weight (2).
    pub beta: u32,
    /// Lowercase first.
    pub lowercase: bool,
    /// Keep whitespace inside character n-grams.
    pub whitespace: bool,
    /// sacrebleu's `eps_smoothing` (chrF++.py behaviour) instead of effective order.
    pub eps_smoothing: bool,
}

impl Default for ChrfConfig {
    fn default() -> Self {
        ChrfConfig { char_order: 6, word_order: 0, beta: 2, lowercase: false, whitespace: false, eps_smoothing: false }
    }
}

const PUNCTS: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// sacrebleu's `_remove_punctuation`: one punctuation mark is split off the end of a word, or else off
/// its start.
fn words(sent: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for w in pystr::split(sent) {
        let mut chars = w.char_indices();
        let first = chars.next().map(|(_, c)| c);
        let last = w.chars().next_back();
        if w.chars().nth(1).is_none() {
            out.push(w);
        } else if last.is_some_and(|c| PUNCTS.contains(c)) {
            let cut = w.len() - last.map_or(0, char::len_utf8);
            out.extend([&w[..cut], &w[cut..]]);
        } else if first.is_some_and(|c| PUNCTS.contains(c)) {
            let cut = first.map_or(0, char::len_utf8);
            out.extend([&w[..cut], &w[cut..]]);
        } else {
            out.push(w);
        }
    }
    out
}

/// The symbols of a segment: its characters (whitespace removed unless kept) and, for chrF++, the ids
/// of its words.
struct Symbols {
    chars: Vec<u32>,
    words: Vec<u32>,
}

fn symbols<'a>(cfg: &ChrfConfig, sent: &'a str, interner: &mut Interner<'a>) -> Symbols {
    let chars = sent.chars().filter(|&c| cfg.whitespace || !pystr::is_space(c)).map(u32::from).collect();
    let words = if cfg.word_order > 0 { interner.ids(words(sent).into_iter()) } else { Vec::new() };
    Symbols { chars, words }
}

/// Bits per character (Unicode needs 21) and per word id; word keys use a wider sentinel position, so
/// word and character keys never collide.
const CHAR_BITS: u32 = 21;
const WORD_BITS: u32 = 40;

/// F-score from [hyp, ref, match] triplets, one per order (sacrebleu's `_compute_f_score`).
pub fn f_score(cfg: &ChrfConfig, stats: &[u64]) -> f64 {
    let eps = 1e-16;
    let factor = f64::from(cfg.beta * cfg.beta);
    let order = cfg.char_order + cfg.word_order;
    let (mut score, mut avg_prec, mut avg_rec, mut effective) = (0.0, 0.0, 0.0, 0usize);
    for t in stats.chunks(3).take(order) {
        let (n_hyp, n_ref, n_match) = (t[0], t[1], t[2]);
        let prec = if n_hyp > 0 { n_match as f64 / n_hyp as f64 } else { eps };
        let rec = if n_ref > 0 { n_match as f64 / n_ref as f64 } else { eps };
        let denom = factor * prec + rec;
        score += if denom > 0.0 { (1.0 + factor) * prec * rec / denom } else { eps };
        if n_hyp > 0 && n_ref > 0 {
            avg_prec += prec;
            avg_rec += rec;
            effective += 1;
        }
    }
    if cfg.eps_smoothing {
        return 100.0 * score / order as f64;
    }
    if effective == 0 {
        avg_prec = 0.0;
        avg_rec = 0.0;
    } else {
        avg_prec /= effective as f64;
        avg_rec /= effective as f64;
    }
    if avg_prec + avg_rec != 0.0 {
        let mut s = (1.0 + factor) * avg_prec * avg_rec;
        s /= (factor * avg_prec) + avg_rec;
        100.0 * s
    } else {
        0.0
    }
}

/// The text lowercased when asked, else borrowed as it is (no copy on the hot path).
fn cased(s: &str, lowercase: bool) -> Cow<'_, str> {
    if lowercase { Cow::Owned(s.to_lowercase()) } else { Cow::Borrowed(s) }
}

/// [hyp, ref, match] triplets per order of one segment against its best reference.
pub fn segment_stats(cfg: &ChrfConfig, hyp: &str, refs: &[&str], counts: &mut Counts) -> Vec<u64> {
    let (hyp, refs): (Cow<'_, str>, Vec<Cow<'_, str>>) =
        (cased(hyp, cfg.lowercase), refs.iter().map(|r| cased(r, cfg.lowercase)).collect());
    let mut interner = Interner::default();
    let h = symbols(cfg, &hyp, &mut interner);
    let mut best: (f64, Vec<u64>) = (-1.0, Vec::new());
    for r in &refs {
        let r = symbols(cfg, r, &mut interner);
        counts.clear();
        counts.add_all(&r.chars, cfg.char_order, CHAR_BITS);
        counts.add_all(&r.words, cfg.word_order, WORD_BITS);
        let mut matches = vec![0u64; cfg.char_order + cfg.word_order];
        let (char_m, word_m) = matches.split_at_mut(cfg.char_order);
        clipped_matches(&h.chars, counts, cfg.char_order, CHAR_BITS, char_m);
        clipped_matches(&h.words, counts, cfg.word_order, WORD_BITS, word_m);
        let orders = (1..=cfg.char_order).map(|n| (h.chars.len(), r.chars.len(), n));
        let orders = orders.chain((1..=cfg.word_order).map(|n| (h.words.len(), r.words.len(), n)));
        let mut stats = Vec::with_capacity(3 * matches.len());
        for ((hyp_len, ref_len, n), m) in orders.zip(&matches) {
            let ref_count = windows(ref_len, n);
            // sacrebleu counts no hypothesis n-grams where the reference has none of that order.
            let hyp_count = if ref_count == 0 { 0 } else { windows(hyp_len, n) };
            stats.extend([hyp_count, ref_count, *m]);
        }
        let f = f_score(cfg, &stats);
        if f > best.0 {
            best = (f, stats);
        }
    }
    best.1
}

/// Corpus chrF: statistics summed over segments, then one F-score.
pub fn corpus_chrf(cfg: &ChrfConfig, corpus: &Corpus) -> f64 {
    let order = cfg.char_order + cfg.word_order;
    let total = (0..corpus.hyps.len())
        .into_par_iter()
        .map_init(Counts::default, |counts, i| {
            let refs: Vec<&str> = corpus.refs_of(i).collect();
            segment_stats(cfg, &corpus.hyps[i], &refs, counts)
        })
        .reduce(
            || vec![0u64; 3 * order],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
                a
            },
        );
    f_score(cfg, &total)
}

/// Sentence chrF of every segment.
pub fn sentence_chrf(cfg: &ChrfConfig, corpus: &Corpus) -> Vec<f64> {
    (0..corpus.hyps.len())
        .into_par_iter()
        .map_init(Counts::default, |counts, i| {
            let refs: Vec<&str> = corpus.refs_of(i).collect();
            f_score(cfg, &segment_stats(cfg, &corpus.hyps[i], &refs, counts))
        })
        .collect()
}

/// The metric's name as sacrebleu prints it: `chrF2`, `chrF2++`.
pub fn name(cfg: &ChrfConfig) -> String {
    format!("chrF{}{}", cfg.beta, "+".repeat(cfg.word_order))
}

/// The sacrebleu-style signature, e.g. `nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0`.
pub fn signature(cfg: &ChrfConfig, nrefs: usize) -> String {
    format!(
        "nrefs:{nrefs}|case:{}|eff:{}|nc:{}|nw:{}|space:{}|version:{SACREBLEU_VERSION}",
        if cfg.lowercase { "lc" } else { "mixed" },
        if cfg.eps_smoothing { "no" } else { "yes" },
        cfg.char_order,
        cfg.word_order,
        if cfg.whitespace { "yes" } else { "no" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_splitting_follows_sacrebleu() {
        assert_eq!(words("Hello, (world) a ! x."), ["Hello", ",", "(world", ")", "a", "!", "x", "."]);
    }

    #[test]
    fn identical_is_100_and_disjoint_is_0() {
        let cfg = ChrfConfig::default();
        let s = segment_stats(&cfg, "the cat", &["the cat"], &mut Counts::default());
        assert!((f_score(&cfg, &s) - 100.0).abs() < 1e-9);
        let s = segment_stats(&cfg, "xyz", &["abc"], &mut Counts::default());
        assert_eq!(f_score(&cfg, &s), 0.0);
    }
}
