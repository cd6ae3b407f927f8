//! Rotary position embeddings (RoPE) as Hugging Face's Llama computes them.

use burn::prelude::*;

use crate::config::Config;

/// cos and sin of every position's rotary angles, `[max_positions, head_dim]`.
#[derive(Debug, Clone)]
pub(crate) struct Rope {
    cos: Tensor<2>,
    sin: Tensor<2>,
}

impl Rope {
    /// The tables of HF's rotary embedding: angle(p, i) = p / theta^(2i/d) for i < d/2, repeated for the
    /// second half (the "rotate half" layout).
    pub(crate) fn new(cfg: &Config, device: &Device) -> Rope {
        let d = cfg.head_dim();
        let n = cfg.max_positions;
        let mut cos = Vec::with_capacity(n * d);
        let mut sin = Vec::with_capacity(n * d);
        for p in 0..n {
            for j in 0..d {
                let i = j % (d / 2);
                let inv_freq = 1.0 / cfg.rope_theta.powf(2.0 * i as f64 / d as f64);
                let angle = (p as f64 * inv_freq) as f32;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Rope {
            cos: Tensor::from_data(TensorData::new(cos, [n, d]), device),
            sin: Tensor::from_data(TensorData::new(sin, [n, d]), device),
        }
    }

    /// The tables for the tokens of one forward pass, broadcastable to `[batch, heads, tokens, head_dim]`:
    /// at `positions` `[batch · tokens]` when given, else at `start, start + 1, …`.
    pub(crate) fn at(&self, positions: Option<&Tensor<1, Int>>, b: usize, start: usize, t: usize) -> RopeAt {
        let d = self.cos.dims()[1];
        match positions {
            Some(p) => RopeAt {
                cos: self.cos.clone().select(0, p.clone()).reshape([b, 1, t, d]),
                sin: self.sin.clone().select(0, p.clone()).reshape([b, 1, t, d]),
            },
            None => RopeAt {
                cos: self.cos.clone().narrow(0, start, t).unsqueeze::<4>(),
                sin: self.sin.clone().narrow(0, start, t).unsqueeze::<4>(),
            },
        }
    }

    /// The tables outside the autodiff graph.
    pub(crate) fn without_autodiff(self) -> Rope {
        Rope { cos: self.cos.without_autodiff(), sin: self.sin.without_autodiff() }
    }
}

/// The rotary tables of one forward pass.
pub(crate) struct RopeAt {
    cos: Tensor<4>,
    sin: Tensor<4>,
}

impl RopeAt {
    /// HF's rotary embedding: x·cos + rotate_half(x)·sin, rotate_half(x) = (−x₂, x₁) over the two halves
    /// of the head dimension.
    ///
    /// # Shapes
    /// `x`: `[batch, heads, tokens, head_dim]`, returned the same.
    pub(crate) fn rotate(&self, x: Tensor<4>) -> Tensor<4> {
        let d = x.dims()[3];
        let x1 = x.clone().narrow(3, 0, d / 2);
        let x2 = x.clone().narrow(3, d / 2, d / 2);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
        x.mul(self.cos.clone()).add(rotated.mul(self.sin.clone()))
    }
}
