//! One Transformer block and its two halves, each loaded next to its forward pass:
//!
//! ```text
//! x = x + attention(norm1(x))   (causal for LM heads; rotary positions for Llama)
//! x = x + mlp(norm2(x))         (GELU for GPT-2, SwiGLU for Llama)
//! ```

use burn::prelude::*;
use burn::tensor::activation::silu;

use super::rope::RopeAt;
use super::source::Source;
use crate::config::{Config, Family, Head};
use crate::error::Result;
use crate::nn::{Bias, Linear, ModuleMut, Norm};

/// Standard deviation of fresh weights (GPT-2's scheme).
pub(crate) const INIT_STD: f64 = 0.02;

/// Standard deviation of fresh residual projections: 0.02 / sqrt(2 · layers).
fn resid_std(c: &Config) -> f64 {
    INIT_STD / (2.0 * c.num_layers as f64).sqrt()
}

/// Query/key/value projections: one fused matrix (GPT-2's `c_attn`, Phi-3's `qkv_proj`) or three
/// (Llama's `q/k/v_proj`).
// One per block: the size difference between variants costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Qkv {
    Fused(Linear),
    Split { q: Linear, k: Linear, v: Linear },
}

/// Multi-head (or grouped-query) self-attention.
#[derive(Debug, Clone)]
pub(crate) struct Attention {
    qkv: Qkv,
    o_proj: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    causal: bool,
}

impl Attention {
    /// The q/k/v projections of `src` (`attn`/`self_attn`); the output projection comes separately (see
    /// [`Block::load`]).
    fn load_qkv(src: &Source<'_>, c: &Config) -> Result<Qkv> {
        let (d, hd) = (c.hidden_size, c.head_dim());
        let (qd, kvd) = (c.num_heads * hd, c.num_kv_heads * hd);
        Ok(match c.family {
            Family::Gpt2 => Qkv::Fused(src.linear("c_attn", d, 3 * d, Bias::Yes, INIT_STD)?),
            Family::Llama if c.fused_projections => {
                Qkv::Fused(src.linear("qkv_proj", d, qd + 2 * kvd, Bias::No, INIT_STD)?)
            }
            Family::Llama => {
                let bias = Bias::from(c.attention_bias);
                Qkv::Split {
                    q: src.linear("q_proj", d, qd, bias, INIT_STD)?,
                    k: src.linear("k_proj", d, kvd, bias, INIT_STD)?,
                    v: src.linear("v_proj", d, kvd, bias, INIT_STD)?,
                }
            }
        })
    }

    fn load_o_proj(src: &Source<'_>, c: &Config) -> Result<Linear> {
        let qd = c.num_heads * c.head_dim();
        match c.family {
            Family::Gpt2 => src.linear("c_proj", qd, c.hidden_size, Bias::Yes, resid_std(c)),
            Family::Llama => src.linear("o_proj", qd, c.hidden_size, Bias::No, resid_std(c)),
        }
    }

    /// Attention over the cached positions in `slot` and the new ones, whose keys and values are appended.
    ///
    /// # Shapes
    /// `x`: `[batch, tokens, hidden]`; `mask`: `[batch, 1, tokens, keys]`; returns `[batch, tokens, hidden]`.
    fn forward(
        &self,
        x: Tensor<3>,
        rope: Option<&RopeAt>,
        mask: Option<&Tensor<4, Bool>>,
        slot: &mut Option<(Tensor<4>, Tensor<4>)>,
        record: Option<&mut Vec<Tensor<4>>>,
    ) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let (heads, kv_heads, hd) = (self.heads, self.kv_heads, self.head_dim);
        let (q, k, v) = match &self.qkv {
            Qkv::Fused(l) => {
                let qkv = l.forward(x);
                let (qd, kd) = (heads * hd, kv_heads * hd);
                (qkv.clone().narrow(2, 0, qd), qkv.clone().narrow(2, qd, kd), qkv.narrow(2, qd + kd, kd))
            }
            Qkv::Split { q, k, v } => (q.forward(x.clone()), k.forward(x.clone()), v.forward(x)),
        };
        // [batch, tokens, n·hd] -> [batch, n, tokens, hd]
        let split = |y: Tensor<3>, n: usize| y.reshape([b, t, n, hd]).swap_dims(1, 2);
        let (mut q, mut k, mut v) = (split(q, heads), split(k, kv_heads), split(v, kv_heads));
        if let Some(rope) = rope {
            q = rope.rotate(q);
            k = rope.rotate(k);
        }
        if let Some((past_k, past_v)) = slot.take() {
            k = Tensor::cat(vec![past_k, k], 2);
            v = Tensor::cat(vec![past_v, v], 2);
        }
        *slot = Some((k.clone(), v.clone()));
        if let Some(record) = record {
            record.push(self.probabilities(q.clone(), k.clone(), mask));
        }
        let out = slm_kernels::attention(q, k, v, mask.cloned(), self.causal); // [batch, tokens, heads·hd]
        self.o_proj.forward(out)
    }

    /// The attention weights, softmax(q·kᵀ/√d) with the causal and layout masks, computed explicitly
    /// (the fused kernel never stores them): `[batch, heads, tokens, keys]`, each row summing to 1.
    fn probabilities(&self, q: Tensor<4>, k: Tensor<4>, mask: Option<&Tensor<4, Bool>>) -> Tensor<4> {
        let [b, heads, t, hd] = q.dims();
        let [_, kv_heads, keys, _] = k.dims();
        let rep = heads / kv_heads;
        let k = k.unsqueeze_dim::<5>(2).expand([b, kv_heads, rep, keys, hd]).reshape([b, heads, keys, hd]);
        let mut scores = q.matmul(k.swap_dims(2, 3)).div_scalar((hd as f64).sqrt());
        let device = scores.device();
        if self.causal {
            let start = keys - t;
            let future: Vec<bool> = (0..t).flat_map(|i| (0..keys).map(move |j| j > start + i)).collect();
            let future = Tensor::<4, Bool>::from_data(TensorData::new(future, [1, 1, t, keys]), &device);
            scores = scores.mask_fill(future.expand([b, heads, t, keys]), f32::NEG_INFINITY);
        }
        if let Some(m) = mask {
            let [mb, _, mq, mk] = m.dims();
            scores = scores.mask_fill(m.clone().expand([mb, heads, mq, mk]), f32::NEG_INFINITY);
        }
        burn::tensor::activation::softmax(scores, 3)
    }

    fn modules<'a>(&'a mut self, out: &mut Vec<ModuleMut<'a>>) {
        match &mut self.qkv {
            Qkv::Fused(l) => out.push(ModuleMut::Linear(l)),
            Qkv::Split { q, k, v } => out.extend([q, k, v].map(ModuleMut::Linear)),
        }
        out.push(ModuleMut::Linear(&mut self.o_proj));
    }
}

/// The position-wise MLP.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum Mlp {
    /// `proj(gelu(fc(x)))`.
    Gelu { fc: Linear, proj: Linear },
    /// `down(silu(gate(x)) * up(x))`.
    SwiGlu { gate: Linear, up: Linear, down: Linear },
    /// The same with gate and up in one matrix (Phi-3's `gate_up_proj`: gate first, then up).
    FusedSwiGlu { gate_up: Linear, down: Linear },
}

impl Mlp {
    fn load(src: &Source<'_>, c: &Config) -> Result<Mlp> {
        let (d, inter, resid) = (c.hidden_size, c.intermediate_size, resid_std(c));
        Ok(match c.family {
            Family::Gpt2 => Mlp::Gelu {
                fc: src.linear("c_fc", d, inter, Bias::Yes, INIT_STD)?,
                proj: src.linear("c_proj", inter, d, Bias::Yes, resid)?,
            },
            Family::Llama if c.fused_projections => Mlp::FusedSwiGlu {
                gate_up: src.linear("gate_up_proj", d, 2 * inter, Bias::No, INIT_STD)?,
                down: src.linear("down_proj", inter, d, Bias::No, resid)?,
            },
            Family::Llama => Mlp::SwiGlu {
                gate: src.linear("gate_proj", d, inter, Bias::No, INIT_STD)?,
                up: src.linear("up_proj", d, inter, Bias::No, INIT_STD)?,
                down: src.linear("down_proj", inter, d, Bias::No, resid)?,
            },
        })
    }

    /// # Shapes
    /// `[batch, tokens, hidden]` → the same.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match self {
            Mlp::Gelu { fc, proj } => proj.forward(slm_kernels::gelu_tanh(fc.forward(x))),
            Mlp::SwiGlu { gate, up, down } => down.forward(silu(gate.forward(x.clone())).mul(up.forward(x))),
            Mlp::FusedSwiGlu { gate_up, down } => {
                let both = gate_up.forward(x); // [batch, tokens, 2·inter]
                let i = both.dims()[2] / 2;
                down.forward(silu(both.clone().narrow(2, 0, i)).mul(both.narrow(2, i, i)))
            }
        }
    }

    fn modules<'a>(&'a mut self, out: &mut Vec<ModuleMut<'a>>) {
        match self {
            Mlp::Gelu { fc, proj } => out.extend([fc, proj].map(ModuleMut::Linear)),
            Mlp::SwiGlu { gate, up, down } => out.extend([gate, up, down].map(ModuleMut::Linear)),
            Mlp::FusedSwiGlu { gate_up, down } => out.extend([gate_up, down].map(ModuleMut::Linear)),
        }
    }
}

/// A pre-norm Transformer block.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    norm1: Norm,
    attn: Attention,
    norm2: Norm,
    mlp: Mlp,
}

impl Block {
    /// Block `src` (`transformer.h.N` or `model.layers.N`).
    pub(crate) fn load(src: &Source<'_>, c: &Config) -> Result<Block> {
        let eps = c.norm_eps;
        let (norm1, attn, norm2, mlp) = match c.family {
            Family::Gpt2 => ("ln_1", "attn", "ln_2", "mlp"),
            Family::Llama => ("input_layernorm", "self_attn", "post_attention_layernorm", "mlp"),
        };
        let (attn_src, mlp_src) = (src.pp(attn), src.pp(mlp));
        let norm_bias = Bias::from(c.family == Family::Gpt2);
        let qkv = Attention::load_qkv(&attn_src, c)?;
        // Fresh weights are drawn from one generator in build order, and Llama's o_proj has always come
        // after its MLP: keeping that order keeps every seed's model what it was.
        let (o_proj, mlp) = match c.family {
            Family::Gpt2 => {
                let o_proj = Attention::load_o_proj(&attn_src, c)?;
                (o_proj, Mlp::load(&mlp_src, c)?)
            }
            Family::Llama => {
                let mlp = Mlp::load(&mlp_src, c)?;
                (Attention::load_o_proj(&attn_src, c)?, mlp)
            }
        };
        Ok(Block {
            norm1: src.norm(norm1, c.hidden_size, norm_bias, eps)?,
            attn: Attention {
                qkv,
                o_proj,
                heads: c.num_heads,
                kv_heads: c.num_kv_heads,
                head_dim: c.head_dim(),
                causal: c.head != Head::MaskedLm,
            },
            norm2: src.norm(norm2, c.hidden_size, norm_bias, eps)?,
            mlp,
        })
    }

    /// # Shapes
    /// `x`: `[batch, tokens, hidden]` → the same.
    pub(crate) fn forward(
        &self,
        x: Tensor<3>,
        rope: Option<&RopeAt>,
        mask: Option<&Tensor<4, Bool>>,
        slot: &mut Option<(Tensor<4>, Tensor<4>)>,
        record: Option<&mut Vec<Tensor<4>>>,
    ) -> Tensor<3> {
        let x = x.clone().add(self.attn.forward(self.norm1.forward(x), rope, mask, slot, record));
        x.clone().add(self.mlp.forward(self.norm2.forward(x)))
    }

    /// The block's modules in checkpoint order.
    pub(crate) fn modules<'a>(&'a mut self, out: &mut Vec<ModuleMut<'a>>) {
        out.push(ModuleMut::Norm(&mut self.norm1));
        self.attn.modules(out);
        out.push(ModuleMut::Norm(&mut self.norm2));
        self.mlp.modules(out);
    }
}
