//! Masked-language-model corruption, BERT's rule: 15% of the positions become targets; of those, 80% are
//! replaced by the mask token, 10% by a random token and 10% left as they are. The loss covers only the
//! chosen positions, whose targets are the original tokens (not shifted).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::Example;

/// Share of positions that become targets.
pub const MASK_RATE: f64 = 0.15;

/// The seeded generator of one optimizer step (or of evaluation: `step = u64::MAX`), so that masking is
/// reproducible and survives resuming.
pub fn step_rng(seed: u64, step: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ step.wrapping_add(1).wrapping_mul(0xD1B5_4A32_D192_ED03))
}

/// `e` corrupted for masked-LM training: at least one position is chosen.
pub fn corrupt(e: &Example, mask_id: u32, vocab: u32, rng: &mut ChaCha8Rng) -> Example {
    let n = e.tokens.len() - 1;
    let original = e.tokens[..n].to_vec();
    let mut inputs = original.clone();
    let mut weight = vec![false; n];
    for i in 0..n {
        if rng.random::<f64>() < MASK_RATE {
            weight[i] = true;
            let r = rng.random::<f64>();
            if r < 0.8 {
                inputs[i] = mask_id;
            } else if r < 0.9 {
                inputs[i] = rng.random_range(0..vocab);
            }
        }
    }
    if n > 0 && !weight.contains(&true) {
        let i = rng.random_range(0..n);
        weight[i] = true;
        inputs[i] = mask_id;
    }
    inputs.push(e.tokens[n]);
    Example { tokens: inputs, weight, docs: e.docs.clone(), label: None, targets: Some(original) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_15_80_10_10_rule() {
        let tokens: Vec<u32> = (0..100_001).map(|i| 10 + (i % 50)).collect();
        let e = Example { weight: vec![true; 100_000], tokens, docs: None, label: None, targets: None };
        let m = corrupt(&e, 3, 1000, &mut step_rng(1, 0));
        let chosen: Vec<usize> = (0..100_000).filter(|&i| m.weight[i]).collect();
        let share = chosen.len() as f64 / 100_000.0;
        assert!((share - 0.15).abs() < 0.005, "{share}");
        let masked = chosen.iter().filter(|&&i| m.tokens[i] == 3).count() as f64 / chosen.len() as f64;
        let kept = chosen.iter().filter(|&&i| m.tokens[i] == e.tokens[i]).count() as f64 / chosen.len() as f64;
        assert!((masked - 0.8).abs() < 0.01, "{masked}");
        // Kept: the 10% left alone plus random replacements that drew the same token (rare).
        assert!((kept - 0.1).abs() < 0.01, "{kept}");
        // Unchosen positions are untouched, and every target is the original token.
        assert!((0..100_000).filter(|&i| !m.weight[i]).all(|i| m.tokens[i] == e.tokens[i]));
        assert_eq!(m.targets.as_deref(), Some(&e.tokens[..100_000]));
        // The same step gives the same masking.
        assert_eq!(corrupt(&e, 3, 1000, &mut step_rng(1, 0)), m);
    }
}
