//! Models for slm. This first part reads GGUF files (llama.cpp's format: metadata, tensors in F32, F16,
//! BF16, Q8_0, Q4_0 and Q4_1, the embedded tokenizer) and writes the Hugging Face model directory that the
//! rest of slm and the Python ecosystem share (`config.json`, `model.safetensors` with HF tensor names,
//! `tokenizer.json`, `generation_config.json`), and runs Llama-family models on Burn for greedy generation
//! with a KV cache.

pub mod beam;
mod error;
pub mod generate;
pub mod gguf;
pub mod hf;
pub mod llama;
pub mod sampling;
mod weights;

pub use error::{ModelError, Result};
