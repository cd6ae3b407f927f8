//! Scoring text with a model: the log-probability of each next token (perplexity) and the divergence of
//! one model's predictions from another's (what quantization or export changed).

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::transformer::Transformer;

/// `tokens` as a `[1, n]` batch on `device`.
fn batch(tokens: &[u32], device: &Device) -> Tensor<2, Int> {
    let data: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
    Tensor::from_data(TensorData::new(data, [1, tokens.len()]), device)
}

/// Natural-log probabilities of `tokens[i + 1]` given `tokens[..=i]`, for every i (one forward pass).
pub fn next_token_log_probs(model: &Transformer, tokens: &[u32]) -> Vec<f64> {
    if tokens.len() < 2 {
        return Vec::new();
    }
    let device = model.device();
    let logits = model.forward(batch(tokens, device), &mut model.cache());
    let [_, t, vocab] = logits.dims();
    let log_probs = log_softmax(logits.reshape([t, vocab]), 1);
    let targets: Vec<i64> = tokens[1..].iter().map(|&t| i64::from(t)).collect();
    let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, [t - 1, 1]), device);
    let picked = log_probs.narrow(0, 0, t - 1).gather(1, targets);
    picked.into_data().try_to_vec::<f32>().expect("f32 logits").into_iter().map(f64::from).collect()
}

/// Sum over the positions of `tokens` of KL(reference ‖ model) between the two models' next-token
/// distributions (nats), and the number of positions. Both models must share the vocabulary.
pub fn kl_divergence(model: &Transformer, reference: &Transformer, tokens: &[u32]) -> (f64, usize) {
    let ours = log_softmax(model.forward(batch(tokens, model.device()), &mut model.cache()), 2);
    let theirs = log_softmax(reference.forward(batch(tokens, reference.device()), &mut reference.cache()), 2);
    let theirs = Tensor::from_data(theirs.into_data(), model.device());
    let kl = theirs.clone().exp().mul(theirs.sub(ours)).sum();
    (f64::from(kl.into_scalar::<f32>()), tokens.len())
}
