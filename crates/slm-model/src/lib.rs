//! Models for slm: the Transformer of the GPT-2 and Llama families on Burn ([`Transformer`], with causal-LM,
//! masked-LM and classification heads and a KV cache), weights in the ecosystem's formats (GGUF import; the
//! Hugging Face model directory read and written with HF tensor names), and generation (greedy, sampling,
//! beam search).

pub mod backtranslate;
pub mod batch;
pub mod beam;
pub mod chat;
pub mod config;
mod error;
pub mod fused;
pub mod generate;
pub mod gguf;
pub mod hf;
pub mod layers;
pub mod lora;
pub mod models_dir;
pub mod quantize;
pub mod sampling;
pub mod save;
pub mod transformer;
pub mod weights;

pub use config::{Config, Family, Head};
pub use error::{ModelError, Result};
pub use transformer::{Context, KvCache, Transformer};
