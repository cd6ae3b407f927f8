//! Attributions by perturbing the input: tokens are replaced by the baseline token (the pad token) and the
//! change of the score is measured. `f` evaluates keep-masks (one bool per input token, `true` = the real
//! token) and returns one score per target for each.
//!
//! - occlusion: leave-one-out (`window` 1), or windows of `window` tokens sliding by one, each token getting
//!   the mean score drop of the windows that hide it (captum's `FeatureAblation` / `Occlusion`);
//! - Shapley values, exactly, by enumerating all 2ⁿ coalitions (n ≤ [`MAX_EXACT`]);
//! - kernel SHAP (Lundberg & Lee 2017): coalitions drawn from the Shapley kernel's size distribution, then
//!   a least-squares fit constrained so that the values sum to f(all) − f(none);
//! - LIME (Ribeiro et al. 2016): random masks (each token kept with probability ½), weighted by
//!   exp(−d²/(2·width²)) of their cosine distance d to the unperturbed input, and a weighted ridge fit.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::linalg::ridge;

/// Most tokens for which Shapley values are computed exactly (2¹² = 4,096 evaluations).
pub const MAX_EXACT: usize = 12;

/// Scores `[mask][target]` of keep-masks.
pub type Eval<'a> = dyn FnMut(&[Vec<bool>]) -> Vec<Vec<f32>> + 'a;

/// `[target][token]` from `[token][target]`-shaped accumulations.
fn by_target(values: Vec<Vec<f64>>, targets: usize) -> Vec<Vec<f32>> {
    (0..targets).map(|j| values.iter().map(|v| v[j] as f32).collect()).collect()
}

/// Occlusion with windows of `window` tokens (1: leave one out).
pub fn occlusion(n: usize, window: usize, full: &[f32], f: &mut Eval<'_>) -> Vec<Vec<f32>> {
    let window = window.clamp(1, n);
    let masks: Vec<Vec<bool>> =
        (0..=n - window).map(|s| (0..n).map(|i| !(s..s + window).contains(&i)).collect()).collect();
    let scores = f(&masks);
    let mut sum = vec![vec![0f64; full.len()]; n];
    let mut count = vec![0usize; n];
    for (s, row) in scores.iter().enumerate() {
        for i in s..s + window {
            count[i] += 1;
            for (j, (a, b)) in full.iter().zip(row).enumerate() {
                sum[i][j] += f64::from(*a) - f64::from(*b);
            }
        }
    }
    let mean = sum.into_iter().zip(count).map(|(v, c)| v.into_iter().map(|x| x / c as f64).collect()).collect();
    by_target(mean, full.len())
}

/// Exact Shapley values over all coalitions of `n` tokens.
pub fn shapley_exact(n: usize, targets: usize, f: &mut Eval<'_>) -> Vec<Vec<f32>> {
    assert!(n <= MAX_EXACT, "exact Shapley values are for at most {MAX_EXACT} tokens");
    let masks: Vec<Vec<bool>> = (0..1usize << n).map(|s| (0..n).map(|i| s >> i & 1 == 1).collect()).collect();
    let scores = f(&masks);
    // weight(|S|) = |S|! (n − |S| − 1)! / n!
    let factorial = |k: usize| (1..=k).map(|x| x as f64).product::<f64>();
    let weight: Vec<f64> = (0..n).map(|s| factorial(s) * factorial(n - s - 1) / factorial(n)).collect();
    let mut phi = vec![vec![0f64; targets]; n];
    for (s, without) in scores.iter().enumerate() {
        for (i, p) in phi.iter_mut().enumerate() {
            if s >> i & 1 == 0 {
                let with = &scores[s | 1 << i];
                let w = weight[s.count_ones() as usize];
                for j in 0..targets {
                    p[j] += w * (f64::from(with[j]) - f64::from(without[j]));
                }
            }
        }
    }
    by_target(phi, targets)
}

/// Kernel SHAP from `samples` coalitions drawn with `seed`; the values of each target sum to
/// `full − none`.
pub fn kernel_shap(n: usize, samples: usize, seed: u64, full: &[f32], none: &[f32], f: &mut Eval<'_>) -> Vec<Vec<f32>> {
    if n == 1 {
        return full.iter().zip(none).map(|(a, b)| vec![a - b]).collect();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // P(size k) ∝ (n − 1) / (k (n − k)) for k in 1..n.
    let size_weights: Vec<f64> = (1..n).map(|k| (n - 1) as f64 / (k * (n - k)) as f64).collect();
    let total: f64 = size_weights.iter().sum();
    let masks: Vec<Vec<bool>> = (0..samples)
        .map(|_| {
            let mut x = rng.random::<f64>() * total;
            let k = 1 + size_weights
                .iter()
                .position(|w| {
                    x -= w;
                    x < 0.0
                })
                .unwrap_or(n - 2);
            let mut order: Vec<usize> = (0..n).collect();
            for i in 0..k {
                let j = i + rng.random_range(0..n - i);
                order.swap(i, j);
            }
            let mut mask = vec![false; n];
            order[..k].iter().for_each(|&i| mask[i] = true);
            mask
        })
        .collect();
    let scores = f(&masks);
    (0..full.len())
        .map(|j| {
            // φ_last = Δ − Σ_{i<last} φ_i:  y − z_last·Δ = Σ_{i<last} (z_i − z_last) φ_i.
            let delta = f64::from(full[j]) - f64::from(none[j]);
            let z = |m: &Vec<bool>, i: usize| f64::from(u8::from(m[i]));
            let x: Vec<Vec<f64>> = masks.iter().map(|m| (0..n - 1).map(|i| z(m, i) - z(m, n - 1)).collect()).collect();
            let y: Vec<f64> = masks
                .iter()
                .zip(&scores)
                .map(|(m, s)| f64::from(s[j]) - f64::from(none[j]) - z(m, n - 1) * delta)
                .collect();
            let mut phi = ridge(&x, &y, &vec![1.0; masks.len()], 1e-9, false);
            phi.push(delta - phi.iter().sum::<f64>());
            phi.into_iter().map(|v| v as f32).collect()
        })
        .collect()
}

/// LIME with `samples` random masks drawn with `seed` and the exponential kernel of width `width` on the
/// cosine distance; a weighted ridge fit (`alpha` 0.01) with an intercept.
pub fn lime(n: usize, samples: usize, seed: u64, width: f64, targets: usize, f: &mut Eval<'_>) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut masks = Vec::with_capacity(samples);
    while masks.len() < samples {
        let mask: Vec<bool> = (0..n).map(|_| rng.random::<bool>()).collect();
        // An empty mask has no cosine distance; draw again.
        if mask.contains(&true) {
            masks.push(mask);
        }
    }
    let scores = f(&masks);
    let weights: Vec<f64> = masks
        .iter()
        .map(|m| {
            let kept = m.iter().filter(|&&b| b).count() as f64;
            let distance = 1.0 - (kept / n as f64).sqrt();
            (-distance * distance / (2.0 * width * width)).exp()
        })
        .collect();
    let x: Vec<Vec<f64>> = masks.iter().map(|m| m.iter().map(|&b| f64::from(u8::from(b))).collect()).collect();
    (0..targets)
        .map(|j| {
            let y: Vec<f64> = scores.iter().map(|s| f64::from(s[j])).collect();
            let mut beta = ridge(&x, &y, &weights, 0.01, true);
            beta.pop();
            beta.into_iter().map(|v| v as f32).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An additive score with one interaction: f = 3·x0 + 1·x1 − 2·x2 + 4·x0·x3.
    fn game(masks: &[Vec<bool>]) -> Vec<Vec<f32>> {
        let v = |m: &Vec<bool>, i: usize| f32::from(u8::from(m[i]));
        masks.iter().map(|m| vec![3.0 * v(m, 0) + v(m, 1) - 2.0 * v(m, 2) + 4.0 * v(m, 0) * v(m, 3)]).collect()
    }

    #[test]
    fn exact_shapley_splits_an_interaction_evenly_and_sums_to_the_total() {
        let phi = shapley_exact(4, 1, &mut game);
        for (got, want) in phi[0].iter().zip([5.0, 1.0, -2.0, 2.0]) {
            assert!((got - want).abs() < 1e-6, "{phi:?}");
        }
    }

    #[test]
    fn kernel_shap_approaches_the_exact_values_with_samples() {
        // 14 tokens (past exact enumeration): f = Σ c_i x_i + 4·x0·x3, whose Shapley values are c_i, with the
        // interaction split evenly between tokens 0 and 3.
        let c: Vec<f32> = (0..14).map(|i| (i as f32 - 6.0) / 2.0).collect();
        let mut game14 = |masks: &[Vec<bool>]| -> Vec<Vec<f32>> {
            let v = |m: &Vec<bool>, i: usize| f32::from(u8::from(m[i]));
            masks.iter().map(|m| vec![(0..14).map(|i| c[i] * v(m, i)).sum::<f32>() + 4.0 * v(m, 0) * v(m, 3)]).collect()
        };
        let full = c.iter().sum::<f32>() + 4.0;
        let phi = kernel_shap(14, 4000, 7, &[full], &[0.0], &mut game14);
        assert!((phi[0].iter().sum::<f32>() - full).abs() < 1e-3, "completeness: {phi:?}");
        for (i, got) in phi[0].iter().enumerate() {
            let want = c[i] + if i == 0 || i == 3 { 2.0 } else { 0.0 };
            assert!((got - want).abs() < 0.15, "token {i}: {got} vs {want}");
        }
    }

    #[test]
    fn occlusion_and_lime_see_the_additive_parts() {
        let full = game(&[vec![true; 4]])[0].clone();
        let leave_one_out = occlusion(4, 1, &full, &mut game);
        assert_eq!(leave_one_out[0], vec![7.0, 1.0, -2.0, 4.0]);
        // Windows of two: token 1 is hidden by windows [0,1] (drop 8) and [1,2] (drop −1): mean 3.5.
        assert_eq!(occlusion(4, 2, &full, &mut game)[0][1], 3.5);
        let fit = lime(4, 500, 3, 1.0, 1, &mut game);
        assert!(fit[0][0] > fit[0][1] && fit[0][1] > 0.0 && fit[0][2] < 0.0, "{fit:?}");
    }
}
