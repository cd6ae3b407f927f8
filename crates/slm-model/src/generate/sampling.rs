//! Choosing the next token from logits. The processing order is fixed and documented:
//! 1. repetition penalty (CTRL / transformers: a seen token's positive logit is divided by the penalty,
//!    a negative one multiplied), then no-repeat-ngram (tokens that would complete an n-gram already in
//!    the sequence are banned);
//!    then presence and frequency penalties (OpenAI's: a token already generated loses `presence` once
//!    and `frequency` per occurrence; only generated tokens count, not the prompt's);
//! 2. temperature (logits divided by it; 0 means greedy);
//! 3. top-k (keep the k most likely);
//! 4. top-p (keep the smallest set, most likely first, whose probability reaches p);
//! 5. min-p (drop tokens less likely than min_p times the most likely one);
//! 6. draw from the renormalised distribution with a seeded ChaCha8 generator.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Decoding settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingOptions {
    /// 0 for greedy decoding; otherwise the softmax temperature.
    pub temperature: f32,
    /// Keep only the k most likely tokens (0: off).
    pub top_k: usize,
    /// Nucleus sampling threshold in (0, 1] (1: off).
    pub top_p: f32,
    /// Minimum probability relative to the best token, in [0, 1) (0: off).
    pub min_p: f32,
    /// Repetition penalty >= 1 (1: off).
    pub repetition_penalty: f32,
    /// Never repeat an n-gram of this size (0: off).
    pub no_repeat_ngram: usize,
    /// Subtracted once from the logit of every token already generated, in [-2, 2] (0: off).
    pub presence_penalty: f32,
    /// Subtracted from a token's logit per time it was generated, in [-2, 2] (0: off).
    pub frequency_penalty: f32,
    /// Seed of the random draws.
    pub seed: u64,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        SamplingOptions {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            no_repeat_ngram: 0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            seed: 42,
        }
    }
}

impl SamplingOptions {
    /// Checks the ranges; the message names the option.
    ///
    /// # Errors
    /// A value out of its range.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(format!("--temperature must be >= 0, got {}", self.temperature));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!("--top-p must be in (0, 1], got {}", self.top_p));
        }
        if !(0.0..1.0).contains(&self.min_p) {
            return Err(format!("--min-p must be in [0, 1), got {}", self.min_p));
        }
        if !(self.repetition_penalty >= 1.0 && self.repetition_penalty.is_finite()) {
            return Err(format!("--repetition-penalty must be >= 1, got {}", self.repetition_penalty));
        }
        for (name, value) in
            [("presence_penalty", self.presence_penalty), ("frequency_penalty", self.frequency_penalty)]
        {
            if !(-2.0..=2.0).contains(&value) {
                return Err(format!("{name} must be in [-2, 2], got {value}"));
            }
        }
        Ok(())
    }
}

/// Picks tokens; holds the random generator so that a seeded run is reproducible.
pub struct Sampler {
    opts: SamplingOptions,
    rng: ChaCha8Rng,
}

impl Sampler {
    /// A sampler seeded with `opts.seed`.
    pub fn new(opts: SamplingOptions) -> Sampler {
        let rng = ChaCha8Rng::seed_from_u64(opts.seed);
        Sampler { opts, rng }
    }

    /// The next token given the logits of the last position and the tokens so far, of which the first
    /// `prompt_len` are the prompt.
    pub fn pick(&mut self, mut logits: Vec<f32>, history: &[u32], prompt_len: usize) -> u32 {
        let o = &self.opts;
        if o.repetition_penalty != 1.0 {
            let mut seen: Vec<u32> = history.to_vec();
            seen.sort_unstable();
            seen.dedup();
            for t in seen {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l = if *l > 0.0 { *l / o.repetition_penalty } else { *l * o.repetition_penalty };
                }
            }
        }
        if o.presence_penalty != 0.0 || o.frequency_penalty != 0.0 {
            let mut generated: Vec<u32> = history.get(prompt_len..).unwrap_or_default().to_vec();
            generated.sort_unstable();
            for run in generated.chunk_by(|a, b| a == b) {
                if let Some(l) = logits.get_mut(run[0] as usize) {
                    *l -= o.presence_penalty + o.frequency_penalty * run.len() as f32;
                }
            }
        }
        for banned in banned_by_ngrams(history, o.no_repeat_ngram) {
            if let Some(l) = logits.get_mut(banned as usize) {
                *l = f32::NEG_INFINITY;
            }
        }
        if o.temperature == 0.0 {
            return argmax(&logits);
        }
        let mut order: Vec<u32> = (0..logits.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]).then(a.cmp(&b)));
        if o.top_k > 0 {
            order.truncate(o.top_k);
        }
        let max = logits[order[0] as usize] / o.temperature;
        let mut probs: Vec<f64> =
            order.iter().map(|&t| f64::from(logits[t as usize] / o.temperature - max).exp()).collect();
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
        if o.top_p < 1.0 {
            let mut cumulative = 0.0;
            let keep = probs
                .iter()
                .position(|&p| {
                    cumulative += p;
                    cumulative >= f64::from(o.top_p)
                })
                .map_or(probs.len(), |i| i + 1);
            probs.truncate(keep);
        }
        if o.min_p > 0.0 {
            let floor = probs[0] * f64::from(o.min_p);
            let keep = probs.iter().take_while(|&&p| p >= floor).count().max(1);
            probs.truncate(keep);
        }
        let total: f64 = probs.iter().sum();
        let mut x = self.rng.random::<f64>() * total;
        for (i, p) in probs.iter().enumerate() {
            if x < *p {
                return order[i];
            }
            x -= p;
        }
        order[probs.len() - 1]
    }
}

/// Tokens that would complete an n-gram of size `n` already present in `history` (transformers'
/// `no_repeat_ngram_size`).
fn banned_by_ngrams(history: &[u32], n: usize) -> Vec<u32> {
    if n == 0 || history.len() < n {
        return Vec::new();
    }
    let prefix = &history[history.len() - (n - 1)..];
    history.windows(n).filter(|w| &w[..n - 1] == prefix).map(|w| w[n - 1]).collect()
}

/// Index of the largest value (the first on ties).
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        vec![1.0, 3.0, 2.0, 0.5, 2.9]
    }

    #[test]
    fn greedy_and_top_k_one_agree() {
        assert_eq!(Sampler::new(SamplingOptions::default()).pick(logits(), &[], 0), 1);
        let opts = SamplingOptions { temperature: 1.0, top_k: 1, ..SamplingOptions::default() };
        let mut s = Sampler::new(opts);
        assert!((0..50).all(|_| s.pick(logits(), &[], 0) == 1));
    }

    #[test]
    fn top_p_keeps_the_nucleus_and_seed_reproduces() {
        // softmax of the logits: token 1 ~0.39, token 4 ~0.35, token 2 ~0.14: top_p 0.7 keeps {1, 4}.
        let opts = SamplingOptions { temperature: 1.0, top_p: 0.7, seed: 3, ..SamplingOptions::default() };
        let mut s = Sampler::new(opts.clone());
        let draws: Vec<u32> = (0..200).map(|_| s.pick(logits(), &[], 0)).collect();
        assert!(draws.iter().all(|t| *t == 1 || *t == 4), "{draws:?}");
        assert!(draws.contains(&1) && draws.contains(&4));
        let mut again = Sampler::new(opts);
        assert_eq!(draws, (0..200).map(|_| again.pick(logits(), &[], 0)).collect::<Vec<_>>());
    }

    #[test]
    fn repetition_penalty_and_min_p() {
        let opts = SamplingOptions { repetition_penalty: 2.0, ..SamplingOptions::default() };
        // token 1 (3.0) becomes 1.5 once seen, so token 4 (2.9) wins greedily
        assert_eq!(Sampler::new(opts).pick(logits(), &[1], 0), 4);
        let opts = SamplingOptions { temperature: 1.0, min_p: 0.5, ..SamplingOptions::default() };
        let mut s = Sampler::new(opts);
        assert!((0..100).map(|_| s.pick(logits(), &[], 0)).all(|t| t == 1 || t == 4));
        assert!(SamplingOptions { top_p: 0.0, ..SamplingOptions::default() }.validate().is_err());
        // "1 4 1" then 4 would repeat the bigram (1, 4): with no_repeat_ngram 2 the next best (2) wins.
        let opts = SamplingOptions { no_repeat_ngram: 2, ..SamplingOptions::default() };
        assert_eq!(Sampler::new(opts).pick(vec![0.0, 0.0, 1.0, 0.0, 5.0], &[1, 4, 1], 0), 2);
        assert_eq!(banned_by_ngrams(&[7, 8, 7, 9, 7], 2), vec![8, 9]);
    }

    #[test]
    fn presence_and_frequency_penalties_count_only_generated_tokens() {
        // Token 1 (3.0) generated twice: 3.0 - 0.1 - 2 * 0.1 = 2.7 < 2.9, so token 4 wins.
        let opts = SamplingOptions { presence_penalty: 0.1, frequency_penalty: 0.1, ..SamplingOptions::default() };
        assert_eq!(Sampler::new(opts.clone()).pick(logits(), &[1, 1], 0), 4);
        // Once only: 3.0 - 0.2 = 2.8 < 2.9 still loses; in the prompt it does not count at all.
        assert_eq!(Sampler::new(opts.clone()).pick(logits(), &[1], 0), 4);
        assert_eq!(Sampler::new(opts.clone()).pick(logits(), &[1, 1], 2), 1);
        // A negative presence penalty favours repeats.
        let opts = SamplingOptions { presence_penalty: -0.5, ..SamplingOptions::default() };
        assert_eq!(Sampler::new(opts).pick(logits(), &[0, 4], 1), 4);
        assert!(SamplingOptions { frequency_penalty: 2.5, ..SamplingOptions::default() }.validate().is_err());
    }
}
