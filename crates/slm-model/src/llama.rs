//! The Llama family (Llama, SmolLM, TinyLlama, Mistral) for inference: token embeddings, a stack of
//! pre-norm blocks (RMSNorm -> grouped-query attention with rotary positions -> RMSNorm -> SwiGLU MLP),
//! a final RMSNorm and a language-model head (tied to the embeddings or not). Names follow the Hugging
//! Face implementation; weights load from an HF model directory.

use std::path::Path;

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, silu};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use serde::Deserialize;

use crate::error::{ModelError, Result};
use crate::weights::Weights;

/// Hyper-parameters, as in an HF `config.json` with `model_type` "llama".
#[derive(Debug, Clone, Deserialize)]
pub struct LlamaConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width of the residual stream (d_model).
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Number of blocks.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention); equal to query heads when absent.
    pub num_key_value_heads: Option<usize>,
    /// RMSNorm epsilon.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// RoPE base.
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    /// Longest context.
    #[serde(default = "default_context")]
    pub max_position_embeddings: usize,
    /// The LM head reuses the embedding matrix.
    #[serde(default)]
    pub tie_word_embeddings: bool,
}

fn default_eps() -> f64 {
    1e-6
}
fn default_theta() -> f64 {
    10_000.0
}
fn default_context() -> usize {
    2048
}

impl LlamaConfig {
    /// Reads `config.json`.
    ///
    /// # Errors
    /// The file is missing, not JSON, or lacks a key.
    pub fn load(dir: &Path) -> Result<LlamaConfig> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Io { path: path.clone(), source: e })?;
        serde_json::from_str(&text).map_err(|e| ModelError::format(&path, format!("not a valid llama config: {e}")))
    }

    fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

/// A linear map without bias, stored as `[in, out]` so that `x @ w` applies it.
struct Linear {
    w: Tensor<2>,
}

impl Linear {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, t, d] = x.dims();
        let out = self.w.dims()[1];
        x.reshape([b * t, d]).matmul(self.w.clone()).reshape([b, t, out])
    }
}

/// Root-mean-square normalisation with a learned gain.
struct RmsNorm {
    weight: Tensor<1>,
    eps: f64,
}

impl RmsNorm {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let rms = x.clone().powi_scalar(2).mean_dim(2).add_scalar(self.eps).sqrt();
        x.div(rms).mul(self.weight.clone().unsqueeze_dim::<2>(0).unsqueeze_dim(0))
    }
}

/// Attention and MLP of one block.
struct Block {
    input_layernorm: RmsNorm,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    post_attention_layernorm: RmsNorm,
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
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
}

/// A Llama model ready for inference.
pub struct Llama {
    /// Its hyper-parameters.
    pub config: LlamaConfig,
    embed_tokens: Tensor<2>,
    layers: Vec<Block>,
    norm: RmsNorm,
    /// `[hidden, vocab]`.
    lm_head: Tensor<2>,
    /// cos and sin of every position's rotary angles, `[max_positions, head_dim]`.
    rope: (Tensor<2>, Tensor<2>),
    device: Device,
}

/// cos and sin tables of HF's rotary embedding: angle(p, i) = p / theta^(2i/d) for i < d/2, repeated
/// for the second half (the "rotate half" layout).
fn rope_tables(cfg: &LlamaConfig, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let d = cfg.head_dim();
    let n = cfg.max_position_embeddings;
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

impl Llama {
    /// Loads an HF model directory (config.json and model.safetensors, f32/f16/bf16).
    ///
    /// # Errors
    /// A missing or malformed file, or a missing tensor.
    pub fn load(dir: &Path, device: &Device) -> Result<Llama> {
        let config = LlamaConfig::load(dir)?;
        let w = Weights::open(&dir.join("model.safetensors"), device)?;
        let norm =
            |name: &str| -> Result<RmsNorm> { Ok(RmsNorm { weight: w.vector(name)?, eps: config.rms_norm_eps }) };
        let linear = |name: &str| -> Result<Linear> { Ok(Linear { w: w.matrix(name)?.transpose() }) };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for l in 0..config.num_hidden_layers {
            let p = format!("model.layers.{l}");
            layers.push(Block {
                input_layernorm: norm(&format!("{p}.input_layernorm.weight"))?,
                q_proj: linear(&format!("{p}.self_attn.q_proj.weight"))?,
                k_proj: linear(&format!("{p}.self_attn.k_proj.weight"))?,
                v_proj: linear(&format!("{p}.self_attn.v_proj.weight"))?,
                o_proj: linear(&format!("{p}.self_attn.o_proj.weight"))?,
                post_attention_layernorm: norm(&format!("{p}.post_attention_layernorm.weight"))?,
                gate_proj: linear(&format!("{p}.mlp.gate_proj.weight"))?,
                up_proj: linear(&format!("{p}.mlp.up_proj.weight"))?,
                down_proj: linear(&format!("{p}.mlp.down_proj.weight"))?,
            });
        }
        let embed_tokens = w.matrix("model.embed_tokens.weight")?;
        let lm_head = if config.tie_word_embeddings || !w.contains("lm_head.weight") {
            embed_tokens.clone().transpose()
        } else {
            w.matrix("lm_head.weight")?.transpose()
        };
        Ok(Llama {
            rope: rope_tables(&config, device),
            norm: norm("model.norm.weight")?,
            config,
            embed_tokens,
            layers,
            lm_head,
            device: device.clone(),
        })
    }

    /// A fresh cache with one slot per block.
    pub fn cache(&self) -> KvCache {
        KvCache { layers: vec![None; self.layers.len()] }
    }

    /// Logits `[batch, tokens, vocab]` of `tokens` `[batch, tokens]`, which follow the positions already
    /// in `cache`; the new keys and values are appended to it.
    ///
    /// # Panics
    /// If the context would exceed `max_position_embeddings` (callers check first).
    pub fn forward(&self, tokens: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<3> {
        let [b, t] = tokens.dims();
        let start = cache.len();
        assert!(start + t <= self.config.max_position_embeddings, "context longer than the model's");
        let hidden = self.config.hidden_size;
        let mut x = self.embed_tokens.clone().select(0, tokens.reshape([b * t])).reshape([b, t, hidden]);
        let cos = self.rope.0.clone().narrow(0, start, t);
        let sin = self.rope.1.clone().narrow(0, start, t);
        for (block, slot) in self.layers.iter().zip(cache.layers.iter_mut()) {
            let h = self.attention(block, block.input_layernorm.forward(x.clone()), &cos, &sin, slot);
            x = x.add(h);
            let n = block.post_attention_layernorm.forward(x.clone());
            let mlp = block.down_proj.forward(silu(block.gate_proj.forward(n.clone())).mul(block.up_proj.forward(n)));
            x = x.add(mlp);
        }
        let x = self.norm.forward(x);
        let vocab = self.lm_head.dims()[1];
        x.reshape([b * t, hidden]).matmul(self.lm_head.clone()).reshape([b, t, vocab])
    }

    fn attention(
        &self,
        block: &Block,
        x: Tensor<3>,
        cos: &Tensor<2>,
        sin: &Tensor<2>,
        slot: &mut Option<(Tensor<4>, Tensor<4>)>,
    ) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let (heads, kv_heads, hd) = (self.config.num_attention_heads, self.config.kv_heads(), self.config.head_dim());
        let split = |y: Tensor<3>, n: usize| y.reshape([b, t, n, hd]).swap_dims(1, 2);
        let q = rotate(split(block.q_proj.forward(x.clone()), heads), cos, sin);
        let mut k = rotate(split(block.k_proj.forward(x.clone()), kv_heads), cos, sin);
        let mut v = split(block.v_proj.forward(x), kv_heads);
        if let Some((pk, pv)) = slot.take() {
            k = Tensor::cat(vec![pk, k], 2);
            v = Tensor::cat(vec![pv, v], 2);
        }
        *slot = Some((k.clone(), v.clone()));
        let rep = heads / kv_heads;
        let expand = |y: Tensor<4>| {
            let [b, kvh, s, d] = y.dims();
            y.unsqueeze_dim::<5>(2).expand([b, kvh, rep, s, d]).reshape([b, kvh * rep, s, d])
        };
        let opts = AttentionModuleOptions { scale: None, softcap: None, is_causal: true };
        let out = attention(q, expand(k), expand(v), None, None, opts);
        block.o_proj.forward(out.swap_dims(1, 2).reshape([b, t, heads * hd]))
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

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }
}

/// HF's rotary embedding: x·cos + rotate_half(x)·sin, rotate_half(x) = (−x₂, x₁) over the two halves of
/// the head dimension. `x` is `[batch, heads, tokens, head_dim]`, the tables `[tokens, head_dim]`.
fn rotate(x: Tensor<4>, cos: &Tensor<2>, sin: &Tensor<2>) -> Tensor<4> {
    let d = x.dims()[3];
    let x1 = x.clone().narrow(3, 0, d / 2);
    let x2 = x.clone().narrow(3, d / 2, d / 2);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    let c = cos.clone().unsqueeze_dim::<3>(0).unsqueeze_dim::<4>(0);
    let s = sin.clone().unsqueeze_dim::<3>(0).unsqueeze_dim::<4>(0);
    x.mul(c).add(rotated.mul(s))
}
