//! Attributions by gradient, on the input embeddings (captum's `LayerIntegratedGradients` and
//! input × gradient on the embedding layer), each token's value summed over the embedding dimension:
//!
//! - input × gradient: `Σ_d x_id · ∂f/∂x_id`;
//! - integrated gradients (Sundararajan et al. 2017): `Σ_d (x_id − b_id) · ∫₀¹ ∂f/∂x_id (b + α(x − b)) dα`
//!   with the baseline `b` the baseline token's embedding at every input position, the integral by
//!   Gauss–Legendre quadrature (captum's default rule); the target text's tokens are not interpolated.
//!
//! Every (step, target) pair is one row of a batch; a single backward pass through the sum of each row's
//! own target score gives all their gradients at once.

use burn::prelude::*;

use crate::error::Result;
use crate::subject::{Subject, Targets, score};

/// Rows per forward and backward pass.
const ROWS: usize = 16;

/// `[target][token]` attributions: `Σ_s weight_s · Σ_d (x − reference)_id · ∂f_j/∂x_id` at the points
/// `reference + α_s (x − reference)`; `reference` `None` means zero (input × gradient, with one α = 1).
pub fn attribute(
    subject: &Subject,
    ids: &[u32],
    targets: &Targets,
    reference: Option<u32>,
    alphas: &[f64],
    weights: &[f64],
) -> Result<Vec<Vec<f32>>> {
    let model = subject.autodiff_model()?;
    let device = model.device().clone();
    let plain = subject.model();
    let n = ids.len();
    let embed = |ids: &[u32]| -> Vec<f32> {
        let t = Tensor::<2, Int>::from_data(
            TensorData::new(ids.iter().map(|&i| i64::from(i)).collect(), [1, ids.len()]),
            plain.device(),
        );
        plain.token_embeddings(t).into_data().try_to_vec().expect("f32 embeddings")
    };
    let x = embed(ids);
    let d = x.len() / n;
    let base = match reference {
        Some(token) => embed(&vec![token; n]),
        None => vec![0.0; n * d],
    };
    let tail = match targets {
        Targets::Tokens(t) if !t.is_empty() => Some(embed(t)),
        _ => None,
    };
    let m = targets.len();
    let pairs: Vec<(usize, usize)> = (0..alphas.len()).flat_map(|s| (0..m).map(move |j| (s, j))).collect();
    let mut out = vec![vec![0f64; n]; m];
    for chunk in pairs.chunks(ROWS) {
        let r = chunk.len();
        let mut points = Vec::with_capacity(r * n * d);
        for &(s, _) in chunk {
            let a = alphas[s] as f32;
            points.extend(x.iter().zip(&base).map(|(xv, bv)| bv + a * (xv - bv)));
        }
        let input = Tensor::<3>::from_data(TensorData::new(points, [r, n, d]), &device).require_grad();
        let full = match &tail {
            Some(t) => {
                let tail = Tensor::<3>::from_data(TensorData::new(t.clone(), [1, t.len() / d, d]), &device);
                Tensor::cat(vec![input.clone(), tail.expand([r, t.len() / d, d])], 1)
            }
            None => input.clone(),
        };
        let scores = score(model, full, n, targets); // [r, m]
        let pick: Vec<f32> =
            chunk.iter().flat_map(|&(_, j)| (0..m).map(move |k| f32::from(u8::from(k == j)))).collect();
        let pick = Tensor::<2>::from_data(TensorData::new(pick, [r, m]), &device);
        let grads = scores.mul(pick).sum().backward();
        let g: Vec<f32> = input.grad(&grads).expect("the input's gradient").into_data().try_to_vec().expect("f32");
        for (row, &(s, j)) in chunk.iter().enumerate() {
            for i in 0..n {
                let at = (row * n + i) * d;
                let dot: f64 = (0..d).map(|k| f64::from(x[i * d + k] - base[i * d + k]) * f64::from(g[at + k])).sum();
                out[j][i] += weights[s] * dot;
            }
        }
    }
    Ok(out.into_iter().map(|row| row.into_iter().map(|v| v as f32).collect()).collect())
}
