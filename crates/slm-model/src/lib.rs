//! Models for slm: the Transformer of the GPT-2 and Llama families on Burn, with causal-LM, masked-LM and
//! classification heads, and everything around it.
//!
//! ```text
//! nn/           building blocks: Linear (+ LoRA adapter), Norm, Embedding; the one parameter walk
//! transformer/  the model: forward pass, blocks, rotary positions, KV cache, loading by HF name, adapters
//! score.rs      next-token log-probabilities and KL divergence between two models
//! classify.rs   a classifier with its tokenizer: labels and probabilities of texts, batched
//! specials.rs   the end-of-sequence and padding ids
//! generate/     greedy, sampling, beam search, dynamic batching, chat templates, back-translation
//! io/           safetensors, Hugging Face directories, GGUF import/export, PEFT adapters, quantization
//! device.rs     the Burn backends and their devices
//! ```
//!
//! Dependencies run one way: `nn` ← `transformer` ← `score`, `io` ← `generate`. The fused CPU kernels
//! the layers call are the `slm-kernels` crate.

#![warn(missing_docs)]

pub mod classify;
pub mod config;
pub mod device;
mod error;
pub mod generate;
pub mod io;
pub mod nn;
pub mod score;
pub mod specials;
pub mod transformer;

pub use config::{Config, Family, Head};
pub use device::Backend;
pub use error::{ModelError, Result};
pub use transformer::{KvCache, TokenLayout, Transformer};
