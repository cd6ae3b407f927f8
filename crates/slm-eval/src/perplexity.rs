//! Perplexity: exp(total negative log-likelihood / predicted tokens) over the non-padding targets.
//!
//! The model side is a [`Scorer`]: anything that returns the log-probability of each next token of a
//! token window. Texts longer than the model's context are scored with a sliding window of the context
//! length advanced by `stride` tokens: each window scores only the tokens not scored by the previous one,
//! with up to `context - stride` tokens of left context (Hugging Face's "perplexity of fixed-length
//! models" procedure). With `stride < context` every token after the first is scored exactly once;
//! `stride == context` gives disjoint windows, whose first tokens go unscored for lack of context.

use crate::error::{EvalError, Result};

/// A language model that can score text.
pub trait Scorer {
    /// Longest window the model accepts.
    fn context_len(&self) -> usize;
    /// Natural-log probabilities of `tokens[i + 1]` given `tokens[..=i]`, for i in `0..tokens.len() - 1`.
    ///
    /// # Errors
    /// Whatever the model reports.
    fn log_probs(&mut self, tokens: &[u32]) -> Result<Vec<f64>>;
}

/// Perplexity with its components.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Perplexity {
    /// exp(nll / tokens).
    pub perplexity: f64,
    /// Mean negative log-likelihood per predicted token (nats).
    pub nll: f64,
    /// Predicted tokens.
    pub tokens: u64,
}

/// Scores each text (already tokenized) with a sliding window.
///
/// # Errors
/// `stride` is 0 or above the context, no text has two tokens, or the scorer fails.
pub fn perplexity(scorer: &mut dyn Scorer, texts: &[Vec<u32>], stride: usize) -> Result<Perplexity> {
    let ctx = scorer.context_len();
    if stride == 0 || stride > ctx {
        return Err(EvalError::Usage(format!("--stride must be between 1 and the context length {ctx}, got {stride}")));
    }
    let (mut total, mut count) = (0.0f64, 0u64);
    for tokens in texts {
        let mut scored_until = 1; // the first token is never predicted
        let mut start = 0;
        while scored_until < tokens.len() {
            let end = (start + ctx).min(tokens.len());
            let lp = scorer.log_probs(&tokens[start..end])?;
            // lp[j] scores tokens[start + j + 1]; keep only the ones not scored yet.
            for (j, l) in lp.iter().enumerate() {
                if start + j + 1 >= scored_until {
                    total -= l;
                    count += 1;
                }
            }
            scored_until = end;
            if end == tokens.len() {
                break;
            }
            start += stride;
        }
    }
    if count == 0 {
        return Err(EvalError::Usage("no text has two or more tokens to score".into()));
    }
    let nll = total / count as f64;
    Ok(Perplexity { perplexity: nll.exp(), nll, tokens: count })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bigram model over a 4-token vocabulary that predicts the next token as (t + 1) % 4 with
    /// probability 1/2 and the others with 1/6; it records the windows it sees.
    struct Bigram {
        ctx: usize,
        windows: Vec<Vec<u32>>,
    }

    impl Scorer for Bigram {
        fn context_len(&self) -> usize {
            self.ctx
        }
        fn log_probs(&mut self, t: &[u32]) -> Result<Vec<f64>> {
            self.windows.push(t.to_vec());
            Ok(t.windows(2).map(|w| if w[1] == (w[0] + 1) % 4 { 0.5f64.ln() } else { (1.0f64 / 6.0).ln() }).collect())
        }
    }

    #[test]
    fn every_token_after_the_first_is_scored_once() {
        let text: Vec<u32> = vec![0, 1, 2, 3, 0, 2, 1, 2, 3, 3];
        for (ctx, stride) in [(4, 2), (4, 3), (3, 1), (16, 16)] {
            let mut m = Bigram { ctx, windows: vec![] };
            let p = perplexity(&mut m, std::slice::from_ref(&text), stride).unwrap();
            assert_eq!(p.tokens, 9, "ctx {ctx} stride {stride}");
            // 6 predictable transitions at 1/2, 3 at 1/6
            let want = -(6.0 * 0.5f64.ln() + 3.0 * (1.0f64 / 6.0).ln()) / 9.0;
            assert!((p.nll - want).abs() < 1e-12);
            assert!(m.windows.iter().all(|w| w.len() <= ctx));
        }
        // Disjoint windows [0..4], [4..8], [8..10] predict 3 + 3 + 1 tokens.
        let p = perplexity(&mut Bigram { ctx: 4, windows: vec![] }, std::slice::from_ref(&text), 4).unwrap();
        assert_eq!(p.tokens, 7);
        assert!(perplexity(&mut Bigram { ctx: 4, windows: vec![] }, &[vec![1]], 2).is_err());
        assert!(perplexity(&mut Bigram { ctx: 4, windows: vec![] }, std::slice::from_ref(&text), 5).is_err());
    }
}
