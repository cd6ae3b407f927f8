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
//! Blocks are in `block.rs`, rotary positions in `rope.rs`, the cache in `cache.rs`, how parameters are
//! loaded or initialised in `source.rs`, LoRA adapters in `adapters.rs`.

mod adapters;
mod block;
mod cache;
mod rope;
mod source;

use std::cell::RefCell;

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use cache::{KvCache, TokenLayout};
pub use source::Checkpoint;
pub(crate) use source::transpose;

use self::block::{Block, INIT_STD};
use self::rope::Rope;
use self::source::Source;
use crate::config::{Config, Family, Head};
use crate::error::{ModelError, Result};
use crate::nn::{Bias, Embedding, Linear, LoraConfig, ModuleMut, Norm, ParamMut, TensorMut};

/// A Transformer of either family with its head.
#[derive(Debug, Clone)]
pub struct Transformer {
    /// Its hyper-parameters.
    pub config: Config,
    embed: Embedding,
    /// Learned positions (GPT-2).
    wpe: Option<Embedding>,
    blocks: Vec<Block>,
    final_norm: Norm,
    /// `[hidden, vocab]`; `None` when tied to the embeddings.
    lm_head: Option<Linear>,
    /// Classification head, `[hidden, labels]`.
    score: Option<Linear>,
    /// Rotary tables (Llama family).
    rope: Option<Rope>,
    device: Device,
    /// The configuration of the LoRA adapters attached to its linear layers, if any.
    pub lora: Option<LoraConfig>,
}

impl Transformer {
    /// A freshly initialised model (GPT-2's scheme: N(0, 0.02), residual projections scaled by
    /// 1/sqrt(2 * layers), norms at 1, biases at 0), the same for a seed on every backend.
    ///
    /// # Errors
    /// An inconsistent configuration.
    pub fn init(config: Config, seed: u64, device: &Device) -> Result<Transformer> {
        config.check().map_err(|e| ModelError::format("config", e))?;
        Transformer::build(config, None, seed, device)
    }

    /// A model of `config` with the values of `checkpoint` (HF names and layouts); every tensor must be
    /// there except a classification head, which starts fresh (fine-tuning a language model into a
    /// classifier). A checkpoint without `lm_head.weight` ties the head to the embeddings.
    ///
    /// # Errors
    /// A missing tensor, or one of the wrong shape.
    pub fn from_checkpoint(config: Config, checkpoint: &dyn Checkpoint, device: &Device) -> Result<Transformer> {
        Transformer::build(config, Some(checkpoint), 0, device)
    }

    fn build(config: Config, checkpoint: Option<&dyn Checkpoint>, seed: u64, device: &Device) -> Result<Transformer> {
        let c = &config;
        let d = c.hidden_size;
        let rng = RefCell::new(ChaCha8Rng::seed_from_u64(seed));
        let gpt2 = c.family == Family::Gpt2;
        // GPT-2's Conv1D stores weights [in, out]; nn.Linear [out, in].
        let root = Source::new(checkpoint, &rng, device, !gpt2);
        let body = root.pp(if gpt2 { "transformer" } else { "model" });
        let embed = body.embedding(if gpt2 { "wte" } else { "embed_tokens" }, c.vocab_size, d, INIT_STD)?;
        let wpe = if gpt2 { Some(body.embedding("wpe", c.max_positions, d, INIT_STD)?) } else { None };
        let layers = body.pp(if gpt2 { "h" } else { "layers" });
        let blocks = (0..c.num_layers).map(|l| Block::load(&layers.pp(l), c)).collect::<Result<Vec<_>>>()?;
        let final_norm = body.norm(if gpt2 { "ln_f" } else { "norm" }, d, Bias::from(gpt2), c.norm_eps)?;
        let untied = !c.tie_word_embeddings && (!root.is_checkpoint() || root.contains("lm_head.weight"));
        let lm_head = if untied && c.head != Head::Classification {
            Some(root.head("lm_head", d, c.vocab_size, INIT_STD, false)?)
        } else {
            None
        };
        let score = if c.head == Head::Classification {
            Some(root.head("score", d, c.labels.len(), INIT_STD, true)?)
        } else {
            None
        };
        let rope = (!gpt2).then(|| Rope::new(c, root.device()));
        let device = root.device().clone();
        Ok(Transformer { embed, wpe, blocks, final_norm, lm_head, score, rope, device, config, lora: None })
    }

    /// Logits `[batch, tokens, vocab]` of `tokens` `[batch, tokens]`, which follow the positions already
    /// in `cache`; the new keys and values are appended to it.
    ///
    /// # Panics
    /// If the context would exceed `max_positions` (callers check first).
    pub fn forward(&self, tokens: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<3> {
        self.lm_logits(self.hidden(tokens, &TokenLayout::default(), cache))
    }

    /// The final hidden states `[batch, tokens, hidden]` (after the final norm).
    ///
    /// # Panics
    /// If the context would exceed `max_positions` (callers check first).
    pub fn hidden(&self, tokens: Tensor<2, Int>, layout: &TokenLayout, cache: &mut KvCache) -> Tensor<3> {
        self.hidden_recording(tokens, layout, cache, None)
    }

    /// The final hidden states of `tokens` `[batch, tokens]` and every block's attention weights
    /// `[batch, heads, tokens, tokens]` (post-softmax, rows summing to 1; zero above the diagonal in a
    /// causal model), as transformers' `output_attentions=True` gives them.
    ///
    /// # Panics
    /// If the context would exceed `max_positions` (callers check first).
    pub fn attention_weights(&self, tokens: Tensor<2, Int>) -> (Tensor<3>, Vec<Tensor<4>>) {
        let mut weights = Vec::with_capacity(self.blocks.len());
        let hidden = self.hidden_recording(tokens, &TokenLayout::default(), &mut self.cache(), Some(&mut weights));
        (hidden, weights)
    }

    fn hidden_recording(
        &self,
        tokens: Tensor<2, Int>,
        layout: &TokenLayout,
        cache: &mut KvCache,
        record: Option<&mut Vec<Tensor<4>>>,
    ) -> Tensor<3> {
        let x = self.token_embeddings(tokens);
        self.hidden_of_embeddings(x, layout, cache, record)
    }

    /// The token embeddings `[batch, tokens, hidden]` of `tokens` (without positions): what
    /// [`Transformer::hidden_from_embeddings`] takes, for attributions by gradient.
    pub fn token_embeddings(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.embed.forward(tokens)
    }

    /// The final hidden states of token embeddings `[batch, tokens, hidden]` (from
    /// [`Transformer::token_embeddings`], possibly scaled or interpolated) at positions 0, 1, ...
    ///
    /// # Panics
    /// If the context would exceed `max_positions` (callers check first).
    pub fn hidden_from_embeddings(&self, x: Tensor<3>) -> Tensor<3> {
        self.hidden_of_embeddings(x, &TokenLayout::default(), &mut self.cache(), None)
    }

    fn hidden_of_embeddings(
        &self,
        mut x: Tensor<3>,
        layout: &TokenLayout,
        cache: &mut KvCache,
        mut record: Option<&mut Vec<Tensor<4>>>,
    ) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let start = cache.len();
        assert!(start + t <= self.config.max_positions, "context longer than the model's");
        let positions = layout.positions.clone().map(|p| p.reshape([b * t]));
        if let Some(wpe) = &self.wpe {
            x = x.add(match &positions {
                Some(p) => wpe.forward(p.clone().reshape([b, t])),
                None => wpe.range(start, t),
            });
        }
        let rope = self.rope.as_ref().map(|r| r.at(positions.as_ref(), b, start, t));
        if cache.layers.len() != self.blocks.len() {
            *cache = self.cache();
        }
        for (block, slot) in self.blocks.iter().zip(cache.layers.iter_mut()) {
            x = block.forward(x, rope.as_ref(), layout.mask.as_ref(), slot, record.as_deref_mut());
        }
        self.final_norm.forward(x)
    }

    /// Vocabulary logits of hidden states: `[batch, tokens, hidden]` → `[batch, tokens, vocab]`.
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
            Some(head) => head.forward(hidden),
            None => slm_kernels::linear(hidden, self.embed.weight.clone().transpose(), None),
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

    /// A fresh cache with one slot per block.
    pub fn cache(&self) -> KvCache {
        KvCache::new(self.blocks.len())
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Every module in checkpoint order: the one walk over the model that parameters, LoRA and inference
    /// copies are derived from.
    pub fn modules(&mut self) -> Vec<ModuleMut<'_>> {
        let mut out = vec![ModuleMut::Embedding(&mut self.embed)];
        if let Some(wpe) = &mut self.wpe {
            out.push(ModuleMut::Embedding(wpe));
        }
        for b in &mut self.blocks {
            b.modules(&mut out);
        }
        out.push(ModuleMut::Norm(&mut self.final_norm));
        out.extend(self.lm_head.as_mut().map(ModuleMut::Head));
        out.extend(self.score.as_mut().map(ModuleMut::Head));
        out
    }

    /// Every parameter with its HF name, in a fixed order (the order of the HF checkpoint's modules).
    pub fn params(&mut self) -> Vec<ParamMut<'_>> {
        let mut out = Vec::new();
        for m in self.modules() {
            m.params(&mut out);
        }
        out
    }

    /// The linear layers of the blocks in checkpoint order (never the LM head or the classifier).
    pub(crate) fn linears_mut(&mut self) -> Vec<&mut Linear> {
        self.modules()
            .into_iter()
            .filter_map(|m| match m {
                ModuleMut::Linear(l) => Some(l),
                _ => None,
            })
            .collect()
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
                TensorMut::Vector(t) => *t = t.clone().without_autodiff(),
                TensorMut::Matrix(t) => *t = t.clone().without_autodiff(),
            }
        }
        m.rope = m.rope.map(Rope::without_autodiff);
        m.device = m.device.without_autodiff();
        m
    }

    /// Number of parameters (the tied head counted once).
    pub fn num_params(&mut self) -> usize {
        self.params().iter().map(ParamMut::numel).sum()
    }
}
