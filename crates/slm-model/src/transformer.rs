//! The decoder-only Transformer of both families, in one readable forward pass:
//!
//! ```text
//! x = embed(tokens) [+ learned positions (GPT-2)]
//! for each block:  x = x + attention(norm1(x))   (causal; rotary positions for Llama)
//!                  x = x + mlp(norm2(x))         (GELU for GPT-2, SwiGLU for Llama)
//! h = final_norm(x)  ->  LM head (tied or not) | classification score of the last real token
//! ```
//!
//! Parameters are plain Burn tensors named as in Hugging Face checkpoints; on an autodiff device the
//! same code trains (the trainer marks them `require_grad` and reads their gradients by name).

use std::path::Path;

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, silu};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{Config, Family, Head};
use crate::error::{ModelError, Result};
use crate::layers::{Linear, Norm, ParamMut, matrix_param};
use crate::weights::DirWeights;

/// Query/key/value projections: one fused matrix (GPT-2's `c_attn`) or three (Llama's `q/k/v_proj`).
// One per block: the size difference between variants costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Qkv {
    Fused(Linear),
    Split { q: Linear, k: Linear, v: Linear },
}

/// The position-wise MLP.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Mlp {
    /// `proj(gelu(fc(x)))`.
    Gelu { fc: Linear, proj: Linear },
    /// `down(silu(gate(x)) * up(x))`.
    SwiGlu { gate: Linear, up: Linear, down: Linear },
    /// The same with gate and up in one matrix (Phi-3's `gate_up_proj`: gate first, then up).
    FusedSwiGlu { gate_up: Linear, down: Linear },
}

impl Mlp {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match self {
            Mlp::Gelu { fc, proj } => proj.forward(crate::fused::gelu_tanh(fc.forward(x))),
            Mlp::SwiGlu { gate, up, down } => down.forward(silu(gate.forward(x.clone())).mul(up.forward(x))),
            Mlp::FusedSwiGlu { gate_up, down } => {
                let both = gate_up.forward(x);
                let i = both.dims()[2] / 2;
                down.forward(silu(both.clone().narrow(2, 0, i)).mul(both.narrow(2, i, i)))
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Block {
    norm1: Norm,
    qkv: Qkv,
    o_proj: Linear,
    norm2: Norm,
    mlp: Mlp,
}

/// Keys and values of the positions seen so far, per block: `[batch, kv_heads, seen, head_dim]`.
#[derive(Default, Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
}

impl KvCache {
    /// Positions already in the cache.
    pub fn len(&self) -> usize {
        self.layers.first().and_then(|l| l.as_ref()).map_or(0, |(k, _)| k.dims()[2])
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn map(&mut self, f: impl Fn(Tensor<4>) -> Tensor<4>) {
        for (k, v) in self.layers.iter_mut().flatten() {
            *k = f(k.clone());
            *v = f(v.clone());
        }
    }

    /// Rows of several caches (of any lengths) stacked into one batch, each left-padded with zeros to the
    /// longest; callers mask the padded positions.
    pub fn stack(rows: &[KvCache]) -> KvCache {
        let len = rows.iter().map(KvCache::len).max().unwrap_or(0);
        let padded: Vec<KvCache> = rows
            .iter()
            .cloned()
            .map(|mut r| {
                r.pad_left(len);
                r
            })
            .collect();
        let layers = (0..padded[0].layers.len())
            .map(|l| {
                let ks = padded.iter().map(|r| r.layers[l].clone().expect("prefilled").0).collect();
                let vs = padded.iter().map(|r| r.layers[l].clone().expect("prefilled").1).collect();
                Some((Tensor::cat(ks, 0), Tensor::cat(vs, 0)))
            })
            .collect();
        KvCache { layers }
    }

    /// Left-pads every layer with zeros to `len` positions.
    pub fn pad_left(&mut self, len: usize) {
        let have = self.len();
        if len > have {
            self.map(|t| {
                let [b, h, _, d] = t.dims();
                Tensor::cat(vec![Tensor::zeros([b, h, len - have, d], &t.device()), t], 2)
            });
        }
    }

    /// Keeps the batch rows `rows`, in that order.
    pub fn select_rows(&mut self, rows: &[usize]) {
        let Some(device) = self.layers.iter().flatten().next().map(|(k, _)| k.device()) else { return };
        let data: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
        let index = Tensor::<1, Int>::from_data(TensorData::new(data, [rows.len()]), &device);
        self.map(|t| t.select(0, index.clone()));
    }

    /// Drops the first `n` positions of every row.
    pub fn drop_front(&mut self, n: usize) {
        let len = self.len();
        if n > 0 {
            self.map(|t| t.narrow(2, n, len - n));
        }
    }
}

/// What a forward pass sees besides the tokens.
#[derive(Default, Clone)]
pub struct Context {
    /// Position of every token `[batch, tokens]`; `None` means cache length + 0, 1, 2, ... (packed
    /// documents restart their positions at 0).
    pub positions: Option<Tensor<2, Int>>,
    /// `true` where a query may NOT look at a key, `[batch, 1, tokens, keys]` (padding, packed-document
    /// boundaries); combined with the causal mask of causal heads.
    pub mask: Option<Tensor<4, Bool>>,
}

/// A Transformer of either family with its head.
#[derive(Debug, Clone)]
pub struct Transformer {
    /// Its hyper-parameters.
    pub config: Config,
    embed: Tensor<2>,
    wpe: Option<Tensor<2>>,
    blocks: Vec<Block>,
    final_norm: Norm,
    /// `[hidden, vocab]`; `None` when tied to the embeddings.
    lm_head: Option<Tensor<2>>,
    /// Classification head, `[hidden, labels]`.
    score: Option<Linear>,
    /// cos and sin of every position's rotary angles, `[max_positions, head_dim]` (Llama family).
    rope: Option<(Tensor<2>, Tensor<2>)>,
    device: Device,
    /// The configuration of the LoRA adapters attached to its linear layers, if any.
    pub lora: Option<crate::lora::LoraConfig>,
}

/// How a parameter starts when it is not loaded.
#[derive(Clone, Copy)]
enum Init {
    Normal(f64),
    Ones,
    Zeros,
}

/// Where parameter values come from: a checkpoint (missing tensors are an error unless `may_init`), or
/// fresh initialisation from a seeded generator.
struct Source<'a> {
    weights: Option<&'a DirWeights>,
    rng: ChaCha8Rng,
    device: Device,
}

impl Source<'_> {
    /// Values in slm's layout for `name` of slm shape `shape`.
    fn take(
        &mut self,
        name: &str,
        shape: &[usize],
        hf_transposed: bool,
        init: Init,
        may_init: bool,
    ) -> Result<Vec<f32>> {
        if let Some(w) = self.weights {
            match w.raw(name)? {
                Some((file_shape, values)) => {
                    let expected: Vec<usize> =
                        if hf_transposed { shape.iter().rev().copied().collect() } else { shape.to_vec() };
                    if file_shape != expected {
                        return Err(w.error(format!("`{name}` has shape {file_shape:?}, expected {expected:?}")));
                    }
                    return Ok(if hf_transposed { transpose(&values, expected[0], expected[1]) } else { values });
                }
                None if !may_init => return Err(w.error(format!("tensor `{name}` is missing"))),
                None => {}
            }
        }
        let n: usize = shape.iter().product();
        Ok(match init {
            Init::Ones => vec![1.0; n],
            Init::Zeros => vec![0.0; n],
            Init::Normal(std) => (0..n).map(|_| (normal(&mut self.rng) * std) as f32).collect(),
        })
    }

    fn matrix(&mut self, name: &str, shape: [usize; 2], hf_transposed: bool, init: Init) -> Result<Tensor<2>> {
        let v = self.take(name, &shape, hf_transposed, init, false)?;
        Ok(Tensor::from_data(TensorData::new(v, shape), &self.device))
    }

    fn vector(&mut self, name: &str, n: usize, init: Init) -> Result<Tensor<1>> {
        let v = self.take(name, &[n], false, init, false)?;
        Ok(Tensor::from_data(TensorData::new(v, [n]), &self.device))
    }

    fn linear(
        &mut self,
        name: &str,
        d_in: usize,
        d_out: usize,
        bias: bool,
        std: f64,
        hf_transposed: bool,
    ) -> Result<Linear> {
        Ok(Linear {
            name: name.to_owned(),
            weight: self.matrix(&format!("{name}.weight"), [d_in, d_out], hf_transposed, Init::Normal(std))?,
            bias: if bias { Some(self.vector(&format!("{name}.bias"), d_out, Init::Zeros)?) } else { None },
            hf_transposed,
            lora: None,
        })
    }

    fn norm(&mut self, name: &str, d: usize, with_bias: bool, eps: f64) -> Result<Norm> {
        Ok(Norm {
            name: name.to_owned(),
            weight: self.vector(&format!("{name}.weight"), d, Init::Ones)?,
            bias: if with_bias { Some(self.vector(&format!("{name}.bias"), d, Init::Zeros)?) } else { None },
            eps,
        })
    }
}

/// A standard normal sample (Box–Muller), from slm's own generator so that initialisation is the same
/// on every backend.
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `values` of a `rows x cols` row-major matrix, transposed.
pub(crate) fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

impl Transformer {
    /// A freshly initialised model (GPT-2's scheme: N(0, 0.02), residual projections scaled by
    /// 1/sqrt(2 * layers), norms at 1, biases at 0), the same for a seed on every backend.
    ///
    /// # Errors
    /// An inconsistent configuration.
    pub fn init(config: Config, seed: u64, device: &Device) -> Result<Transformer> {
        config.check().map_err(|e| ModelError::format("config", e))?;
        let source = Source { weights: None, rng: ChaCha8Rng::seed_from_u64(seed), device: device.clone() };
        Transformer::build(config, source)
    }

    /// Loads an HF model directory (config.json and model.safetensors, or its shards, in f32/f16/bf16), or a
    /// PEFT LoRA adapter directory (its base model with the adapters attached, unmerged). A classification
    /// head missing from the file (fine-tuning a language model into a classifier) starts fresh.
    ///
    /// # Errors
    /// A missing or malformed file, or a missing tensor or one of the wrong shape.
    pub fn load(dir: &Path, device: &Device) -> Result<Transformer> {
        if crate::lora::is_adapter(dir) {
            let (_, base) = crate::lora::read_config(dir)?;
            let mut model = Transformer::load(&base, device)?;
            model.load_lora(dir)?;
            return Ok(model);
        }
        let config = Config::load(dir)?;
        Transformer::load_with(dir, config, device)
    }

    /// Loads the weights of `dir` into a model of `config` (e.g. the config of `dir` with another head).
    ///
    /// # Errors
    /// As [`Transformer::load`].
    pub fn load_with(dir: &Path, config: Config, device: &Device) -> Result<Transformer> {
        let weights = DirWeights::open(dir)?;
        let source = Source { weights: Some(&weights), rng: ChaCha8Rng::seed_from_u64(0), device: device.clone() };
        Transformer::build(config, source)
    }

    fn build(config: Config, mut src: Source<'_>) -> Result<Transformer> {
        let c = &config;
        let (d, hd) = (c.hidden_size, c.head_dim());
        let std = 0.02;
        let resid = 0.02 / (2.0 * c.num_layers as f64).sqrt();
        let gpt2 = c.family == Family::Gpt2;
        let (embed_name, prefix) = if gpt2 {
            ("transformer.wte.weight", "transformer.h")
        } else {
            ("model.embed_tokens.weight", "model.layers")
        };
        let embed = src.matrix(embed_name, [c.vocab_size, d], false, Init::Normal(std))?;
        let wpe = if gpt2 {
            Some(src.matrix("transformer.wpe.weight", [c.max_positions, d], false, Init::Normal(std))?)
        } else {
            None
        };
        let mut blocks = Vec::with_capacity(c.num_layers);
        for l in 0..c.num_layers {
            let p = format!("{prefix}.{l}");
            let block = if gpt2 {
                Block {
                    norm1: src.norm(&format!("{p}.ln_1"), d, true, c.norm_eps)?,
                    qkv: Qkv::Fused(src.linear(&format!("{p}.attn.c_attn"), d, 3 * d, true, std, false)?),
                    o_proj: src.linear(&format!("{p}.attn.c_proj"), d, d, true, resid, false)?,
                    norm2: src.norm(&format!("{p}.ln_2"), d, true, c.norm_eps)?,
                    mlp: Mlp::Gelu {
                        fc: src.linear(&format!("{p}.mlp.c_fc"), d, c.intermediate_size, true, std, false)?,
                        proj: src.linear(&format!("{p}.mlp.c_proj"), c.intermediate_size, d, true, resid, false)?,
                    },
                }
            } else {
                let kv = c.num_kv_heads * hd;
                let a = format!("{p}.self_attn");
                let bias = c.attention_bias;
                let (qd, inter) = (c.num_heads * hd, c.intermediate_size);
                let (qkv, mlp) = if c.fused_projections {
                    (
                        Qkv::Fused(src.linear(&format!("{a}.qkv_proj"), d, qd + 2 * kv, false, std, true)?),
                        Mlp::FusedSwiGlu {
                            gate_up: src.linear(&format!("{p}.mlp.gate_up_proj"), d, 2 * inter, false, std, true)?,
                            down: src.linear(&format!("{p}.mlp.down_proj"), inter, d, false, resid, true)?,
                        },
                    )
                } else {
                    (
                        Qkv::Split {
                            q: src.linear(&format!("{a}.q_proj"), d, qd, bias, std, true)?,
                            k: src.linear(&format!("{a}.k_proj"), d, kv, bias, std, true)?,
                            v: src.linear(&format!("{a}.v_proj"), d, kv, bias, std, true)?,
                        },
                        Mlp::SwiGlu {
                            gate: src.linear(&format!("{p}.mlp.gate_proj"), d, inter, false, std, true)?,
                            up: src.linear(&format!("{p}.mlp.up_proj"), d, inter, false, std, true)?,
                            down: src.linear(&format!("{p}.mlp.down_proj"), inter, d, false, resid, true)?,
                        },
                    )
                };
                Block {
                    norm1: src.norm(&format!("{p}.input_layernorm"), d, false, c.norm_eps)?,
                    qkv,
                    o_proj: src.linear(&format!("{a}.o_proj"), qd, d, false, resid, true)?,
                    norm2: src.norm(&format!("{p}.post_attention_layernorm"), d, false, c.norm_eps)?,
                    mlp,
                }
            };
            blocks.push(block);
        }
        let final_norm = if gpt2 {
            src.norm("transformer.ln_f", d, true, c.norm_eps)?
        } else {
            src.norm("model.norm", d, false, c.norm_eps)?
        };
        // A checkpoint without `lm_head.weight` ties the head to the embeddings whatever the config says.
        let untied = !c.tie_word_embeddings && src.weights.is_none_or(|w| w.contains("lm_head.weight"));
        let lm_head = if untied && c.head != Head::Classification {
            Some(src.matrix("lm_head.weight", [d, c.vocab_size], true, Init::Normal(std))?)
        } else {
            None
        };
        let score = if c.head == Head::Classification {
            let n = c.labels.len();
            let values = src.take("score.weight", &[d, n], true, Init::Normal(std), true)?;
            let weight = Tensor::from_data(TensorData::new(values, [d, n]), &src.device);
            Some(Linear { name: "score".into(), weight, bias: None, hf_transposed: true, lora: None })
        } else {
            None
        };
        let rope = (!gpt2).then(|| rope_tables(c, &src.device));
        Ok(Transformer { embed, wpe, blocks, final_norm, lm_head, score, rope, device: src.device, config, lora: None })
    }

    /// Every parameter with its HF name, in a fixed order (the order of the HF checkpoint's modules).
    pub fn params(&mut self) -> Vec<ParamMut<'_>> {
        let gpt2 = self.config.family == Family::Gpt2;
        let mut out = Vec::new();
        let embed_name = if gpt2 { "transformer.wte.weight" } else { "model.embed_tokens.weight" };
        out.push(matrix_param(embed_name, &mut self.embed, false));
        if let Some(wpe) = &mut self.wpe {
            out.push(matrix_param("transformer.wpe.weight", wpe, false));
        }
        for b in &mut self.blocks {
            b.norm1.params(&mut out);
            match &mut b.qkv {
                Qkv::Fused(l) => l.params(&mut out),
                Qkv::Split { q, k, v } => [q, k, v].into_iter().for_each(|l| l.params(&mut out)),
            }
            b.o_proj.params(&mut out);
            b.norm2.params(&mut out);
            match &mut b.mlp {
                Mlp::Gelu { fc, proj } => [fc, proj].into_iter().for_each(|l| l.params(&mut out)),
                Mlp::SwiGlu { gate, up, down } => [gate, up, down].into_iter().for_each(|l| l.params(&mut out)),
                Mlp::FusedSwiGlu { gate_up, down } => [gate_up, down].into_iter().for_each(|l| l.params(&mut out)),
            }
        }
        self.final_norm.params(&mut out);
        if let Some(head) = &mut self.lm_head {
            out.push(matrix_param("lm_head.weight", head, true));
        }
        if let Some(score) = &mut self.score {
            score.params(&mut out);
        }
        out
    }

    /// The linear layers of the blocks in checkpoint order (never the LM head or the classifier).
    pub(crate) fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = Vec::new();
        for b in &mut self.blocks {
            match &mut b.qkv {
                Qkv::Fused(l) => out.push(l),
                Qkv::Split { q, k, v } => out.extend([q, k, v]),
            }
            out.push(&mut b.o_proj);
            match &mut b.mlp {
                Mlp::Gelu { fc, proj } => out.extend([fc, proj]),
                Mlp::SwiGlu { gate, up, down } => out.extend([gate, up, down]),
                Mlp::FusedSwiGlu { gate_up, down } => out.extend([gate_up, down]),
            }
        }
        out
    }

    /// A copy for inference: every tensor leaves the autodiff graph, the device is the plain backend and
    /// adapter dropout is off.
    pub fn inference(&self) -> Transformer {
        let mut m = self.clone();
        for l in m.linears_mut() {
            if let Some(lora) = &mut l.lora {
                lora.training = false;
                lora.a = lora.a.clone().without_autodiff();
                lora.b = lora.b.clone().without_autodiff();
            }
        }
        for p in m.params() {
            match p.tensor {
                crate::layers::TensorMut::Vector(t) => *t = t.clone().without_autodiff(),
                crate::layers::TensorMut::Matrix(t) => *t = t.clone().without_autodiff(),
            }
        }
        m.rope = m.rope.map(|(c, s)| (c.without_autodiff(), s.without_autodiff()));
        m.device = m.device.without_autodiff();
        m
    }

    /// A fresh cache with one slot per block.
    pub fn cache(&self) -> KvCache {
        KvCache { layers: vec![None; self.blocks.len()] }
    }

    /// Logits `[batch, tokens, vocab]` of `tokens` `[batch, tokens]`, which follow the positions already
    /// in `cache`; the new keys and values are appended to it.
    ///
    /// # Panics
    /// If the context would exceed `max_positions` (callers check first).
    pub fn forward(&self, tokens: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<3> {
        self.lm_logits(self.hidden(tokens, &Context::default(), cache))
    }

    /// The final hidden states `[batch, tokens, hidden]` (after the final norm).
    ///
    /// # Panics
    /// If the context would exceed `max_positions` (callers check first).
    pub fn hidden(&self, tokens: Tensor<2, Int>, ctx: &Context, cache: &mut KvCache) -> Tensor<3> {
        let [b, t] = tokens.dims();
        let start = cache.len();
        assert!(start + t <= self.config.max_positions, "context longer than the model's");
        let d = self.config.hidden_size;
        let positions = ctx.positions.clone().map(|p| p.reshape([b * t]));
        let mut x = self.embed.clone().select(0, tokens.reshape([b * t])).reshape([b, t, d]);
        if let Some(wpe) = &self.wpe {
            let pos = match &positions {
                Some(p) => wpe.clone().select(0, p.clone()).reshape([b, t, d]),
                None => wpe.clone().narrow(0, start, t).unsqueeze::<3>(),
            };
            x = x.add(pos);
        }
        // Rotary tables for these positions, broadcastable to [batch, heads, tokens, head_dim].
        let rope = self.rope.as_ref().map(|(cos, sin)| {
            let hd = self.config.head_dim();
            match &positions {
                Some(p) => (
                    cos.clone().select(0, p.clone()).reshape([b, 1, t, hd]),
                    sin.clone().select(0, p.clone()).reshape([b, 1, t, hd]),
                ),
                None => (cos.clone().narrow(0, start, t).unsqueeze::<4>(), sin.clone().narrow(0, start, t).unsqueeze()),
            }
        });
        if cache.layers.len() != self.blocks.len() {
            *cache = self.cache();
        }
        for (block, slot) in self.blocks.iter().zip(cache.layers.iter_mut()) {
            let h = self.attention(block, block.norm1.forward(x.clone()), rope.as_ref(), ctx.mask.as_ref(), slot);
            x = x.add(h);
            x = x.clone().add(block.mlp.forward(block.norm2.forward(x)));
        }
        self.final_norm.forward(x)
    }

    /// Vocabulary logits of hidden states.
    pub fn lm_logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        let [b, t, d] = hidden.dims();
        let logits = self.lm_logits_rows(hidden.reshape([b * t, d]));
        let vocab = logits.dims()[1];
        logits.reshape([b, t, vocab])
    }

    /// Vocabulary logits `[rows, vocab]` of hidden states `[rows, hidden]`: one 2-D matmul (a batched
    /// matmul would broadcast, i.e. copy, the head per row).
    pub fn lm_logits_rows(&self, hidden: Tensor<2>) -> Tensor<2> {
        match &self.lm_head {
            Some(head) => crate::fused::linear(hidden, head.clone(), None),
            None => crate::fused::linear(hidden, self.embed.clone().transpose(), None),
        }
    }

    /// Class logits `[batch, labels]` from the hidden state at `last[i]` (the last real token of row i).
    ///
    /// # Panics
    /// If the model has no classification head.
    pub fn class_logits(&self, hidden: Tensor<3>, last: Tensor<1, Int>) -> Tensor<2> {
        let [b, _, d] = hidden.dims();
        let index = last.reshape([b, 1, 1]).expand([b, 1, d]);
        let picked = hidden.gather(1, index).reshape([b, d]);
        self.score.as_ref().expect("a classification head").forward(picked)
    }

    fn attention(
        &self,
        block: &Block,
        x: Tensor<3>,
        rope: Option<&(Tensor<4>, Tensor<4>)>,
        mask: Option<&Tensor<4, Bool>>,
        slot: &mut Option<(Tensor<4>, Tensor<4>)>,
    ) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let c = &self.config;
        let (heads, kv_heads, hd) = (c.num_heads, c.num_kv_heads, c.head_dim());
        let split = |y: Tensor<3>, n: usize| y.reshape([b, t, n, hd]).swap_dims(1, 2);
        let (q, k, v) = match &block.qkv {
            Qkv::Fused(l) => {
                let qkv = l.forward(x);
                let (qd, kd) = (heads * hd, kv_heads * hd);
                (qkv.clone().narrow(2, 0, qd), qkv.clone().narrow(2, qd, kd), qkv.narrow(2, qd + kd, kd))
            }
            Qkv::Split { q, k, v } => (q.forward(x.clone()), k.forward(x.clone()), v.forward(x)),
        };
        let (mut q, mut k, mut v) = (split(q, heads), split(k, kv_heads), split(v, kv_heads));
        if let Some((cos, sin)) = rope {
            q = rotate(q, cos, sin);
            k = rotate(k, cos, sin);
        }
        if let Some((pk, pv)) = slot.take() {
            k = Tensor::cat(vec![pk, k], 2);
            v = Tensor::cat(vec![pv, v], 2);
        }
        *slot = Some((k.clone(), v.clone()));
        let rep = heads / kv_heads;
        let causal = c.head != Head::MaskedLm;
        let out = if t == 1 && rep > 1 {
            // Decoding one token with grouped-query attention: the `rep` query heads that share a key/value
            // head attend as `rep` queries of that head, so keys and values are never copied per head. A
            // single new token sees every cached key, so only the padding mask applies.
            let q = q.reshape([b, kv_heads, rep, hd]);
            let mask = mask.map(|m| {
                let [mb, _, _, mk] = m.dims();
                m.clone().expand([mb, kv_heads, rep, mk])
            });
            let opts = AttentionModuleOptions { scale: None, softcap: None, is_causal: false };
            attention(q, k, v, mask, None, opts).reshape([b, t, heads * hd])
        } else {
            crate::fused::attention(q, k, v, mask.cloned(), causal)
        };
        block.o_proj.forward(out)
    }

    /// Natural-log probabilities of `tokens[i + 1]` given `tokens[..=i]`, for every i (one forward pass).
    pub fn next_token_log_probs(&self, tokens: &[u32]) -> Vec<f64> {
        if tokens.len() < 2 {
            return Vec::new();
        }
        let data: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
        let input = Tensor::<2, Int>::from_data(TensorData::new(data, [1, tokens.len()]), &self.device);
        let logits = self.forward(input, &mut self.cache());
        let [_, t, vocab] = logits.dims();
        let log_probs = log_softmax(logits.reshape([t, vocab]), 1);
        let targets: Vec<i64> = tokens[1..].iter().map(|&t| i64::from(t)).collect();
        let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, [t - 1, 1]), &self.device);
        let picked = log_probs.narrow(0, 0, t - 1).gather(1, targets);
        picked.into_data().try_to_vec::<f32>().expect("f32 logits").into_iter().map(f64::from).collect()
    }

    /// Sum over the positions of `tokens` of KL(reference ‖ self) between the two models' next-token
    /// distributions (nats), and the number of positions. Both models must share the vocabulary.
    pub fn kl_from(&self, reference: &Transformer, tokens: &[u32]) -> (f64, usize) {
        let data: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
        let input =
            |device: &Device| Tensor::<2, Int>::from_data(TensorData::new(data.clone(), [1, tokens.len()]), device);
        let ours = log_softmax(self.forward(input(&self.device), &mut self.cache()), 2);
        let theirs = log_softmax(reference.forward(input(&reference.device), &mut reference.cache()), 2);
        let theirs = Tensor::from_data(theirs.into_data(), &self.device);
        let kl = theirs.clone().exp().mul(theirs.sub(ours)).sum();
        (f64::from(kl.into_scalar::<f32>()), tokens.len())
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Number of parameters (the tied head counted once).
    pub fn num_params(&mut self) -> usize {
        self.params().iter().map(ParamMut::numel).sum()
    }
}

/// cos and sin tables of HF's rotary embedding: angle(p, i) = p / theta^(2i/d) for i < d/2, repeated
/// for the second half (the "rotate half" layout).
fn rope_tables(cfg: &Config, device: &Device) -> (Tensor<2>, Tensor<2>) {
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
    (Tensor::from_data(TensorData::new(cos, [n, d]), device), Tensor::from_data(TensorData::new(sin, [n, d]), device))
}

/// HF's rotary embedding: x·cos + rotate_half(x)·sin, rotate_half(x) = (−x₂, x₁) over the two halves of
/// the head dimension. `x` is `[batch, heads, tokens, head_dim]`, the tables broadcast to it.
fn rotate(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let d = x.dims()[3];
    let x1 = x.clone().narrow(3, 0, d / 2);
    let x2 = x.clone().narrow(3, d / 2, d / 2);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    x.mul(cos.clone()).add(rotated.mul(sin.clone()))
}
