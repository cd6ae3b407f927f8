//! Beam search: keep the `beams` most likely continuations (by summed log-probability), extend each by
//! its best tokens every step, and finish a beam at a stop token. Finished and running hypotheses are
//! ranked by log-probability divided by length^`length_penalty` (transformers' convention); with
//! `early_stopping` the search ends as soon as `beams` hypotheses have finished.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::transformer::{KvCache, Transformer};

/// Beam search settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BeamOptions {
    /// Hypotheses kept each step (1 is greedy).
    pub beams: usize,
    /// Exponent of the length normalisation (1: mean log-probability per token; 0: none).
    pub length_penalty: f32,
    /// Stop once `beams` hypotheses have finished.
    pub early_stopping: bool,
}

impl Default for BeamOptions {
    fn default() -> Self {
        BeamOptions { beams: 4, length_penalty: 1.0, early_stopping: true }
    }
}

struct Hypothesis {
    tokens: Vec<u32>,
    log_prob: f64,
    cache: KvCache,
    next_log_probs: Vec<f32>,
}

fn score(log_prob: f64, len: usize, penalty: f32) -> f64 {
    log_prob / (len.max(1) as f64).powf(f64::from(penalty))
}

fn last_log_probs(logits: Tensor<3>) -> Vec<f32> {
    let [_, t, vocab] = logits.dims();
    log_softmax(logits.narrow(1, t - 1, 1).reshape([vocab]), 0).into_data().try_to_vec().expect("f32 logits")
}

fn ids(device: &Device, tokens: &[u32]) -> Tensor<2, Int> {
    let data: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
    Tensor::from_data(TensorData::new(data, [1, tokens.len()]), device)
}

/// The best continuation of `prompt` (new tokens only, without the stop token) and its log-probability.
pub fn beam_search(
    model: &Transformer,
    prompt: &[u32],
    max_new: usize,
    stop: &[u32],
    opts: &BeamOptions,
) -> (Vec<u32>, f64) {
    let device = model.device().clone();
    let mut cache = model.cache();
    let first = last_log_probs(model.forward(ids(&device, prompt), &mut cache));
    let mut running = vec![Hypothesis { tokens: Vec::new(), log_prob: 0.0, cache, next_log_probs: first }];
    let mut finished: Vec<(Vec<u32>, f64)> = Vec::new();
    let width = opts.beams.max(1);
    for _ in 0..max_new {
        // Every running hypothesis proposes its `width` best tokens; keep the best `width` overall.
        let mut candidates: Vec<(usize, u32, f64)> = Vec::new();
        for (h, hyp) in running.iter().enumerate() {
            let mut order: Vec<u32> = (0..hyp.next_log_probs.len() as u32).collect();
            order.sort_unstable_by(|&a, &b| hyp.next_log_probs[b as usize].total_cmp(&hyp.next_log_probs[a as usize]));
            for &t in order.iter().take(width) {
                candidates.push((h, t, hyp.log_prob + f64::from(hyp.next_log_probs[t as usize])));
            }
        }
        candidates.sort_by(|a, b| b.2.total_cmp(&a.2));
        let mut next = Vec::with_capacity(width);
        for (h, t, lp) in candidates {
            if next.len() == width {
                break;
            }
            let parent = &running[h];
            if stop.contains(&t) {
                finished.push((parent.tokens.clone(), lp));
                continue;
            }
            let mut cache = parent.cache.clone();
            let next_log_probs = last_log_probs(model.forward(ids(&device, &[t]), &mut cache));
            let mut tokens = parent.tokens.clone();
            tokens.push(t);
            next.push(Hypothesis { tokens, log_prob: lp, cache, next_log_probs });
        }
        running = next;
        if running.is_empty() || (opts.early_stopping && finished.len() >= width) {
            break;
        }
    }
    finished.extend(running.into_iter().map(|h| (h.tokens, h.log_prob)));
    finished
        .into_iter()
        .max_by(|a, b| {
            score(a.1, a.0.len(), opts.length_penalty).total_cmp(&score(b.1, b.0.len(), opts.length_penalty))
        })
        .unwrap_or_default()
}
