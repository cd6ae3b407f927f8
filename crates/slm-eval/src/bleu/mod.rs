//! BLEU exactly as sacrebleu 2.x computes it (corpus and sentence level, every smoothing method, any
//! number of references), and its reproducibility signature.

mod tokenize;

pub use tokenize::Tokenizer;

use rayon::prelude::*;

use crate::ngrams::{Counts, Interner, clipped_matches, windows};
use crate::pystr;
use crate::segments::Corpus;

/// sacrebleu's maximum n-gram order.
pub const MAX_ORDER: usize = 4;

/// The sacrebleu release whose behaviour slm reproduces (named in signatures).
pub const SACREBLEU_VERSION: &str = "2.6.0";

/// Smoothing of zero n-gram matches (Chen & Cherry, 2014).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Smooth {
    /// No smoothing.
    None,
    /// Method 1: a zero count becomes this value (default 0.1).
    Floor(f64),
    /// Method 2: add this value to counts and totals of orders above 1 (default 1).
    AddK(f64),
    /// Method 3, mteval-v13a's: each zero precision is 1 / (2^k × total).
    Exp,
}

impl Smooth {
    /// Parses `--smooth` with an optional `--smooth-value`.
    pub fn parse(name: &str, value: Option<f64>) -> Option<Smooth> {
        Some(match name {
            "none" => Smooth::None,
            "floor" => Smooth::Floor(value.unwrap_or(0.1)),
            "add-k" => Smooth::AddK(value.unwrap_or(1.0)),
            "exp" => Smooth::Exp,
            _ => return None,
        })
    }

    fn signature(self) -> String {
        match self {
            Smooth::None => "none".into(),
            Smooth::Floor(v) => format!("floor[{v:.2}]"),
            Smooth::AddK(v) => format!("add-k[{v:.2}]"),
            Smooth::Exp => "exp".into(),
        }
    }
}

/// How BLEU is computed.
#[derive(Debug, Clone, Copy)]
pub struct BleuConfig {
    /// Tokenizer applied to hypotheses and references.
    pub tokenizer: Tokenizer,
    /// Lowercase before tokenizing.
    pub lowercase: bool,
    /// Smoothing method.
    pub smooth: Smooth,
    /// Stop at the highest order with matches (sentence BLEU).
    pub effective_order: bool,
}

impl Default for BleuConfig {
    fn default() -> Self {
        BleuConfig { tokenizer: Tokenizer::T13a, lowercase: false, smooth: Smooth::Exp, effective_order: false }
    }
}

/// Sufficient statistics of one segment (they add up over a corpus).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BleuStats {
    /// Hypothesis length in tokens.
    pub sys_len: u64,
    /// Closest reference length.
    pub ref_len: u64,
    /// Clipped n-gram matches per order.
    pub correct: [u64; MAX_ORDER],
    /// Hypothesis n-grams per order.
    pub total: [u64; MAX_ORDER],
}

impl std::ops::AddAssign for BleuStats {
    fn add_assign(&mut self, o: BleuStats) {
        self.sys_len += o.sys_len;
        self.ref_len += o.ref_len;
        for n in 0..MAX_ORDER {
            self.correct[n] += o.correct[n];
            self.total[n] += o.total[n];
        }
    }
}

/// A BLEU score with its components, on sacrebleu's 0–100 scale.
#[derive(Debug, Clone, PartialEq)]
pub struct BleuScore {
    /// BLEU.
    pub score: f64,
    /// Clipped matches per order.
    pub counts: [u64; MAX_ORDER],
    /// Hypothesis n-grams per order.
    pub totals: [u64; MAX_ORDER],
    /// Precision per order (0–100).
    pub precisions: [f64; MAX_ORDER],
    /// Brevity penalty.
    pub bp: f64,
    /// Hypothesis length.
    pub sys_len: u64,
    /// Reference length.
    pub ref_len: u64,
}

fn preprocess(cfg: &BleuConfig, s: &str) -> String {
    if cfg.lowercase {
        cfg.tokenizer.spaced(pystr::rstrip(&s.to_lowercase()))
    } else {
        cfg.tokenizer.spaced(pystr::rstrip(s))
    }
}

/// sacrebleu's closest reference length: the smallest difference, ties to the shorter reference.
fn closest_ref_len(hyp_len: u64, ref_lens: &[u64]) -> u64 {
    let mut best: Option<(u64, u64)> = None;
    for &r in ref_lens {
        let diff = hyp_len.abs_diff(r);
        best = match best {
            Some((d, l)) if diff > d || (diff == d && r >= l) => Some((d, l)),
            _ => Some((diff, r)),
        };
    }
    best.map_or(0, |b| b.1)
}

/// Reference n-gram counts reused from segment to segment by one thread.
#[derive(Default)]
pub struct Scratch {
    refs: Counts,
    one: Counts,
}

/// Bits per token id in an n-gram key: four ids and the sentinel fit in 128 bits.
const ID_BITS: u32 = 31;

/// The statistics of one hypothesis against its references.
pub fn segment_stats(cfg: &BleuConfig, hyp: &str, refs: &[&str], scratch: &mut Scratch) -> BleuStats {
    let hyp = preprocess(cfg, hyp);
    let refs: Vec<String> = refs.iter().map(|r| preprocess(cfg, r)).collect();
    let mut interner = Interner::default();
    let hyp_ids = interner.ids(pystr::split(&hyp));
    let mut ref_lens = Vec::with_capacity(refs.len());
    scratch.refs.clear();
    for (i, r) in refs.iter().enumerate() {
        let ids = interner.ids(pystr::split(r));
        ref_lens.push(ids.len() as u64);
        if i == 0 {
            scratch.refs.add_all(&ids, MAX_ORDER, ID_BITS);
        } else {
            scratch.one.clear();
            scratch.one.add_all(&ids, MAX_ORDER, ID_BITS);
            scratch.refs.max_with(&scratch.one);
        }
    }
    let mut stats = BleuStats {
        sys_len: hyp_ids.len() as u64,
        ref_len: closest_ref_len(hyp_ids.len() as u64, &ref_lens),
        ..BleuStats::default()
    };
    for n in 1..=MAX_ORDER {
        stats.total[n - 1] = windows(hyp_ids.len(), n);
    }
    clipped_matches(&hyp_ids, &mut scratch.refs, MAX_ORDER, ID_BITS, &mut stats.correct);
    stats
}

/// sacrebleu's `my_log`: log, with log(0) floored to -9999999999.
fn my_log(x: f64) -> f64 {
    if x == 0.0 { -9_999_999_999.0 } else { x.ln() }
}

/// BLEU from summed statistics (sacrebleu's `compute_bleu`, operation for operation).
pub fn compute(cfg: &BleuConfig, s: &BleuStats) -> BleuScore {
    let bp = if s.sys_len < s.ref_len {
        if s.sys_len > 0 { (1.0 - s.ref_len as f64 / s.sys_len as f64).exp() } else { 0.0 }
    } else {
        1.0
    };
    let mut precisions = [0.0; MAX_ORDER];
    let mut result = BleuScore {
        score: 0.0,
        counts: s.correct,
        totals: s.total,
        precisions,
        bp,
        sys_len: s.sys_len,
        ref_len: s.ref_len,
    };
    if s.correct.iter().all(|&c| c == 0) {
        return result;
    }
    let mut correct: [f64; MAX_ORDER] = s.correct.map(|c| c as f64);
    let mut total: [f64; MAX_ORDER] = s.total.map(|c| c as f64);
    let mut smooth_mteval = 1.0;
    let mut eff_order = MAX_ORDER;
    for n in 1..=MAX_ORDER {
        if let Smooth::AddK(k) = cfg.smooth
            && n > 1
        {
            correct[n - 1] += k;
            total[n - 1] += k;
        }
        if total[n - 1] == 0.0 {
            break;
        }
        if cfg.effective_order {
            eff_order = n;
        }
        if correct[n - 1] == 0.0 {
            match cfg.smooth {
                Smooth::Exp => {
                    smooth_mteval *= 2.0;
                    precisions[n - 1] = 100.0 / (smooth_mteval * total[n - 1]);
                }
                Smooth::Floor(v) => precisions[n - 1] = 100.0 * v / total[n - 1],
                Smooth::None | Smooth::AddK(_) => {}
            }
        } else {
            precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1];
        }
    }
    let log_sum: f64 = precisions[..eff_order].iter().fold(0.0, |acc, &p| acc + my_log(p));
    result.score = bp * (log_sum / eff_order as f64).exp();
    result.precisions = precisions;
    result
}

/// Per-segment statistics of a corpus, computed in parallel.
pub fn corpus_stats(cfg: &BleuConfig, corpus: &Corpus) -> Vec<BleuStats> {
    (0..corpus.hyps.len())
        .into_par_iter()
        .map_init(Scratch::default, |scratch, i| {
            let refs: Vec<&str> = corpus.refs_of(i).collect();
            segment_stats(cfg, &corpus.hyps[i], &refs, scratch)
        })
        .collect()
}

/// Corpus BLEU.
pub fn corpus_bleu(cfg: &BleuConfig, corpus: &Corpus) -> BleuScore {
    let mut total = BleuStats::default();
    for s in corpus_stats(cfg, corpus) {
        total += s;
    }
    compute(cfg, &total)
}

/// Sentence BLEU of every segment (sacrebleu's `sentence_bleu`: effective order on).
pub fn sentence_bleu(cfg: &BleuConfig, corpus: &Corpus) -> Vec<BleuScore> {
    let cfg = BleuConfig { effective_order: true, ..*cfg };
    corpus_stats(&cfg, corpus).iter().map(|s| compute(&cfg, s)).collect()
}

/// The sacrebleu-style signature, e.g. `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0`.
/// The version field names the sacrebleu release whose numbers slm reproduces.
pub fn signature(cfg: &BleuConfig, nrefs: usize) -> String {
    format!(
        "nrefs:{nrefs}|case:{}|eff:{}|tok:{}|smooth:{}|version:{SACREBLEU_VERSION}",
        if cfg.lowercase { "lc" } else { "mixed" },
        if cfg.effective_order { "yes" } else { "no" },
        cfg.tokenizer.name(),
        cfg.smooth.signature()
    )
}

/// How many hypotheses end in a tokenized period (" ."); sacrebleu warns at 100 or more that the data
/// looks tokenized.
pub fn tokenized_period_count(corpus: &Corpus) -> usize {
    corpus.hyps.iter().filter(|h| h.ends_with(" .")).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_reference_ties_go_to_the_shorter() {
        assert_eq!(closest_ref_len(10, &[12, 8]), 8);
        assert_eq!(closest_ref_len(10, &[8, 12]), 8);
        assert_eq!(closest_ref_len(10, &[13, 11, 9]), 9);
    }

    #[test]
    fn perfect_match_is_100() {
        let s = segment_stats(
            &BleuConfig::default(),
            "the cat sat on the mat",
            &["the cat sat on the mat"],
            &mut Scratch::default(),
        );
        let b = compute(&BleuConfig::default(), &s);
        assert!((b.score - 100.0).abs() < 1e-9);
        assert_eq!(b.counts, [6, 5, 4, 3]);
    }
}
