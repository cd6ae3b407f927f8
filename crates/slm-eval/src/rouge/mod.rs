//! ROUGE-N, ROUGE-L and ROUGE-Lsum exactly as Google's rouge-score computes them: its tokenizer
//! (lowercase, every run of characters outside `[a-z0-9]` is a separator, so non-Latin text vanishes),
//! NLTK's Porter stemmer on tokens longer than three characters, per-segment precision, recall and F1,
//! the union-LCS of ROUGE-Lsum over newline-separated sentences, and, with several references, the
//! reference with the best F1 per ROUGE type. Scores are the mean over segments (0–1).
//!
//! Opt-in tokenizers make ROUGE meaningful where the default drops everything: `char` (every
//! non-space character is a token) and `zh` (each CJK character is a token; Latin words and numbers
//! as in the default).

mod lcs;
mod porter;

pub use porter::stem;

use std::collections::HashMap;

use rayon::prelude::*;

use rustc_hash::FxHashMap;

use crate::ngrams::Interner;

/// A ROUGE variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RougeType {
    /// n-gram overlap of order n (rouge1, rouge2, ...).
    N(usize),
    /// Longest common subsequence over the whole text.
    L,
    /// Summary-level union LCS over sentences.
    Lsum,
}

impl RougeType {
    /// Parses `rouge1`..`rouge9`, `rougeL`, `rougeLsum`.
    pub fn parse(name: &str) -> Option<RougeType> {
        match name {
            "rougeL" => Some(RougeType::L),
            "rougeLsum" => Some(RougeType::Lsum),
            _ => {
                let n: usize = name.strip_prefix("rouge")?.parse().ok()?;
                (1..=9).contains(&n).then_some(RougeType::N(n))
            }
        }
    }

    /// The name rouge-score uses.
    pub fn name(self) -> String {
        match self {
            RougeType::N(n) => format!("rouge{n}"),
            RougeType::L => "rougeL".into(),
            RougeType::Lsum => "rougeLsum".into(),
        }
    }
}

/// How text becomes tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RougeTokenizer {
    /// rouge-score's default: `[a-z0-9]+` runs after lowercasing.
    Default,
    /// Every non-whitespace character.
    Char,
    /// CJK characters one by one, other text as the default.
    Zh,
}

/// How ROUGE is computed.
#[derive(Debug, Clone)]
pub struct RougeConfig {
    /// The variants to report.
    pub types: Vec<RougeType>,
    /// Porter-stem tokens longer than three characters.
    pub stemmer: bool,
    /// The tokenizer.
    pub tokenizer: RougeTokenizer,
}

/// Precision, recall and F1.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Prf {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub fmeasure: f64,
}

impl Prf {
    fn new(precision: f64, recall: f64) -> Prf {
        let fmeasure = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        Prf { precision, recall, fmeasure }
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30ff | 0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xac00..=0xd7af | 0xf900..=0xfaff
        | 0x20000..=0x2a6df | 0x2f800..=0x2fa1f)
}

/// Tokenizes text, caching stems.
pub struct Tokenize<'c> {
    cfg: &'c RougeConfig,
    stems: HashMap<String, String>,
}

impl<'c> Tokenize<'c> {
    /// A tokenizer for `cfg` with an empty stem cache.
    pub fn new(cfg: &'c RougeConfig) -> Self {
        Tokenize { cfg, stems: HashMap::new() }
    }

    /// The tokens of `text`.
    pub fn tokens(&mut self, text: &str) -> Vec<String> {
        let lower = text.to_lowercase();
        if self.cfg.tokenizer == RougeTokenizer::Char {
            return lower.chars().filter(|c| !c.is_whitespace()).map(String::from).collect();
        }
        let mut tokens = Vec::new();
        let mut word = String::new();
        for c in lower.chars() {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                word.push(c);
                continue;
            }
            if !word.is_empty() {
                tokens.push(self.stemmed(std::mem::take(&mut word)));
            }
            if self.cfg.tokenizer == RougeTokenizer::Zh && is_cjk(c) {
                tokens.push(c.to_string());
            }
        }
        if !word.is_empty() {
            tokens.push(self.stemmed(word));
        }
        tokens
    }

    fn stemmed(&mut self, word: String) -> String {
        if !self.cfg.stemmer || word.len() <= 3 {
            return word;
        }
        self.stems.entry(word).or_insert_with_key(|w| stem(w)).clone()
    }
}

fn ngram_score(target: &[u32], prediction: &[u32], n: usize) -> Prf {
    let mut counts: FxHashMap<&[u32], u32> = FxHashMap::default();
    for w in target.windows(n) {
        *counts.entry(w).or_insert(0) += 1;
    }
    let mut inter = 0u64;
    for w in prediction.windows(n) {
        if let Some(c) = counts.get_mut(w)
            && *c > 0
        {
            *c -= 1;
            inter += 1;
        }
    }
    let t_total = target.windows(n).count().max(1);
    let p_total = prediction.windows(n).count().max(1);
    Prf::new(inter as f64 / p_total as f64, inter as f64 / t_total as f64)
}

fn lcs_score(target: &[u32], prediction: &[u32]) -> Prf {
    if target.is_empty() || prediction.is_empty() {
        return Prf::default();
    }
    let l = lcs::length(target, prediction) as f64;
    Prf::new(l / prediction.len() as f64, l / target.len() as f64)
}

/// Sentences of a summary: split on newlines, empty strings dropped.
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').filter(|s| !s.is_empty())
}

/// Scores one prediction against one target.
pub fn score(tok: &mut Tokenize<'_>, target: &str, prediction: &str) -> Vec<Prf> {
    let cfg: &RougeConfig = tok.cfg;
    let types = &cfg.types;
    let target_tokens = tok.tokens(target);
    let prediction_tokens = tok.tokens(prediction);
    let mut interner = Interner::default();
    let t = interner.ids(target_tokens.iter().map(String::as_str));
    let p = interner.ids(prediction_tokens.iter().map(String::as_str));
    types
        .iter()
        .map(|ty| match ty {
            RougeType::N(n) => ngram_score(&t, &p, *n),
            RougeType::L => lcs_score(&t, &p),
            RougeType::Lsum => {
                let ts: Vec<Vec<String>> = sentences(target).map(|s| tok.tokens(s)).collect();
                let ps: Vec<Vec<String>> = sentences(prediction).map(|s| tok.tokens(s)).collect();
                let mut interner = Interner::default();
                let ts: Vec<Vec<u32>> = ts.iter().map(|s| interner.ids(s.iter().map(String::as_str))).collect();
                let ps: Vec<Vec<u32>> = ps.iter().map(|s| interner.ids(s.iter().map(String::as_str))).collect();
                lcs::summary_level(&ts, &ps)
                    .map_or_else(Prf::default, |(hits, m, n)| Prf::new(hits as f64 / n as f64, hits as f64 / m as f64))
            }
        })
        .collect()
}

/// Scores one prediction against several targets: per type, the target with the best F1 (the first on
/// ties), as rouge-score's `score_multi`.
pub fn score_multi(tok: &mut Tokenize<'_>, targets: &[&str], prediction: &str) -> Vec<Prf> {
    let all: Vec<Vec<Prf>> = targets.iter().map(|t| score(tok, t, prediction)).collect();
    (0..tok.cfg.types.len())
        .map(|k| {
            let mut best = all[0][k];
            for s in &all[1..] {
                if s[k].fmeasure > best.fmeasure {
                    best = s[k];
                }
            }
            best
        })
        .collect()
}

/// Per-segment scores of a corpus (outer: segment, inner: `cfg.types`), in parallel.
pub fn segment_scores(cfg: &RougeConfig, corpus: &crate::segments::Corpus) -> Vec<Vec<Prf>> {
    (0..corpus.hyps.len())
        .into_par_iter()
        .map_init(
            || Tokenize::new(cfg),
            |tok, i| {
                let refs: Vec<&str> = corpus.refs_of(i).collect();
                score_multi(tok, &refs, &corpus.hyps[i])
            },
        )
        .collect()
}

/// The mean of per-segment scores, per type.
pub fn mean(scores: &[Vec<Prf>], n_types: usize) -> Vec<Prf> {
    let count = scores.len().max(1) as f64;
    (0..n_types)
        .map(|k| {
            let sum = |f: fn(&Prf) -> f64| scores.iter().map(|s| f(&s[k])).sum::<f64>() / count;
            Prf { precision: sum(|p| p.precision), recall: sum(|p| p.recall), fmeasure: sum(|p| p.fmeasure) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(stemmer: bool) -> RougeConfig {
        RougeConfig {
            types: vec![RougeType::N(1), RougeType::N(2), RougeType::L, RougeType::Lsum],
            stemmer,
            tokenizer: RougeTokenizer::Default,
        }
    }

    #[test]
    fn rouge_score_readme_example() {
        // rouge-score's README: scorer.score('The quick brown fox jumps over the lazy dog',
        // 'The quick brown dog jumps on the log.') with rouge1 and rougeL, use_stemmer=True.
        let c = cfg(true);
        let s = score(
            &mut Tokenize::new(&c),
            "The quick brown fox jumps over the lazy dog",
            "The quick brown dog jumps on the log.",
        );
        assert!((s[0].precision - 0.75).abs() < 1e-12 && (s[0].recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((s[2].fmeasure - 0.5882352941176471).abs() < 1e-12);
    }

    #[test]
    fn default_tokenizer_drops_non_latin_but_zh_keeps_it() {
        let mut c = cfg(false);
        assert!(Tokenize::new(&c).tokens("你好 世界").is_empty());
        c.tokenizer = RougeTokenizer::Zh;
        assert_eq!(Tokenize::new(&c).tokens("你好 GPT-4!"), ["你", "好", "gpt", "4"]);
        c.tokenizer = RougeTokenizer::Char;
        assert_eq!(Tokenize::new(&c).tokens("你好 a"), ["你", "好", "a"]);
    }
}
