//! Beam search as transformers' `generate(num_beams=…)` does it, step for step, so that both return the
//! same continuation:
//! - each step ranks every extension of every running hypothesis by summed log-probability and keeps the
//!   best `max(2, 1 + stop tokens) × beams` candidates;
//! - a candidate that ends in a stop token, or reaches the length limit, finishes — but only if it ranks
//!   among the first `beams` — scored by its log-probability divided by its length (stop token included)
//!   to the power `length_penalty`; the `beams` best finished hypotheses are kept;
//! - the best `beams` unfinished candidates run on;
//! - the search ends at the length limit, or as [`EarlyStopping`] says.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::transformer::Transformer;

/// When beam search ends before the length limit (transformers' `early_stopping`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum EarlyStopping {
    /// As soon as `beams` hypotheses have finished (transformers' `True`).
    #[cfg_attr(feature = "clap", value(name = "true"))]
    WhenFull,
    /// When the best running hypothesis, scored at its current length, cannot beat the worst of `beams`
    /// finished ones (transformers' `False`, its default).
    #[default]
    #[cfg_attr(feature = "clap", value(name = "false"))]
    Heuristic,
    /// As `Heuristic`, but with a positive length penalty the running score is taken at the length limit,
    /// the best it could reach (transformers' `"never"`).
    #[cfg_attr(feature = "clap", value(name = "never"))]
    Never,
}

/// Beam search settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BeamOptions {
    /// Hypotheses kept each step (1 is greedy).
    pub beams: usize,
    /// Exponent of the length normalisation (1: mean log-probability per token; 0: none; negative values
    /// favour short hypotheses).
    pub length_penalty: f32,
    /// When the search may end before the length limit.
    pub early_stopping: EarlyStopping,
}

impl Default for BeamOptions {
    fn default() -> Self {
        BeamOptions { beams: 4, length_penalty: 1.0, early_stopping: EarlyStopping::default() }
    }
}

/// A running hypothesis: its new tokens and summed log-probability. Its keys and values are row `i` of the
/// search's one batched cache, where `i` is its place in the running list.
struct Running {
    tokens: Vec<u32>,
    log_prob: f64,
}

/// A log-probability normalised by length^penalty.
fn normalised(log_prob: f64, len: usize, penalty: f32) -> f64 {
    log_prob / (len as f64).powf(f64::from(penalty))
}

/// A finished hypothesis.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// Its new tokens, without a stop token.
    pub tokens: Vec<u32>,
    /// Summed log-probability (stop token included).
    pub log_prob: f64,
    /// `log_prob` / length^length_penalty, the length counting the stop token.
    pub score: f64,
}

/// Log-probabilities of the next token after the last position of every row.
fn last_log_probs(logits: Tensor<3>) -> Vec<Vec<f32>> {
    let [rows, t, vocab] = logits.dims();
    let last = log_softmax(logits.narrow(1, t - 1, 1).reshape([rows, vocab]), 1);
    let flat: Vec<f32> = last.into_data().try_to_vec().expect("f32 logits");
    flat.chunks(vocab).map(<[f32]>::to_vec).collect()
}

/// Token ids as a `[rows, columns]` tensor.
fn ids(device: &Device, tokens: &[u32], rows: usize) -> Tensor<2, Int> {
    let data: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
    Tensor::from_data(TensorData::new(data, [rows, tokens.len() / rows]), device)
}

/// The best continuation of `prompt` (new tokens only, without the stop token) and its summed
/// log-probability (stop token included).
pub fn beam_search(
    model: &Transformer,
    prompt: &[u32],
    max_new: usize,
    stop: &[u32],
    opts: &BeamOptions,
) -> (Vec<u32>, f64) {
    let best = finished_hypotheses(model, prompt, max_new, stop, opts).into_iter().next();
    best.map(|f| (f.tokens, f.log_prob)).unwrap_or_default()
}

/// The `beams` best finished hypotheses of the search, best first (transformers'
/// `num_return_sequences=beams`).
pub fn finished_hypotheses(
    model: &Transformer,
    prompt: &[u32],
    max_new: usize,
    stop: &[u32],
    opts: &BeamOptions,
) -> Vec<Finished> {
    let device = model.device().clone();
    let width = opts.beams.max(1);
    let keep = (1 + stop.len()).max(2) * width;
    // One cache for all running hypotheses (they always have the same length): one forward per step.
    let mut cache = model.cache();
    let mut log_probs = last_log_probs(model.forward(ids(&device, prompt, 1), &mut cache));
    let mut running = vec![Running { tokens: Vec::new(), log_prob: 0.0 }];
    // Best first, at most `width`.
    let mut finished: Vec<Finished> = Vec::new();
    for step in 0..max_new {
        let len = step + 1;
        let at_limit = len == max_new;
        let mut candidates: Vec<(usize, u32, f64)> = Vec::with_capacity(running.len() * log_probs[0].len());
        for (h, (hyp, lps)) in running.iter().zip(&log_probs).enumerate() {
            candidates.extend(lps.iter().enumerate().map(|(t, &lp)| (h, t as u32, hyp.log_prob + f64::from(lp))));
        }
        // The best `keep`, best first; equal scores keep the order of (hypothesis, token).
        let by_score =
            |a: &(usize, u32, f64), b: &(usize, u32, f64)| b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1)));
        if candidates.len() > keep {
            candidates.select_nth_unstable_by(keep - 1, by_score);
            candidates.truncate(keep);
        }
        candidates.sort_by(by_score);
        // Finished hypotheses are always added here: once none could be, the search has already ended.
        let mut next = Vec::with_capacity(width);
        for (rank, &(h, t, lp)) in candidates.iter().enumerate() {
            if stop.contains(&t) || at_limit {
                if rank < width {
                    let mut tokens = running[h].tokens.clone();
                    if !stop.contains(&t) {
                        tokens.push(t);
                    }
                    let score = normalised(lp, len, opts.length_penalty);
                    finished.push(Finished { tokens, log_prob: lp, score });
                }
            } else if next.len() < width {
                next.push((h, t, lp));
            }
        }
        // Keep the best `width` finished (stable: earlier ones win ties).
        finished.sort_by(|a, b| b.score.total_cmp(&a.score));
        finished.truncate(width);
        let Some(&(_, _, best)) = next.first() else { break };
        let hypothetical = match opts.early_stopping {
            EarlyStopping::Never if opts.length_penalty > 0.0 => max_new,
            _ => len,
        };
        let full = finished.len() == width;
        let worst = if full { finished.last().map_or(f64::NEG_INFINITY, |f| f.score) } else { f64::NEG_INFINITY };
        let improvable = normalised(best, hypothetical, opts.length_penalty) > worst;
        if !improvable || (opts.early_stopping == EarlyStopping::WhenFull && full) {
            break;
        }
        let parents: Vec<usize> = next.iter().map(|&(h, _, _)| h).collect();
        let tokens: Vec<u32> = next.iter().map(|&(_, t, _)| t).collect();
        running = next
            .iter()
            .map(|&(h, t, lp)| Running { tokens: [running[h].tokens.as_slice(), &[t]].concat(), log_prob: lp })
            .collect();
        cache.select_rows(&parents);
        log_probs = last_log_probs(model.forward(ids(&device, &tokens, tokens.len()), &mut cache));
    }
    finished
}
