//! Models in and out of files: safetensors, Hugging Face model directories, GGUF (llama.cpp), PEFT
//! adapter directories, and slm's reduced-precision storage. Every directory is assembled beside its
//! target and renamed into place (`model_dir.rs`).

pub mod gguf;
pub mod hf;
pub mod model_dir;
pub mod peft;
pub mod quantize;
pub mod safetensors;

use std::path::PathBuf;

/// What an import wrote.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    /// The model directory.
    pub out: PathBuf,
    /// The HF architecture (`LlamaForCausalLM`).
    pub architecture: String,
    /// Number of parameters.
    pub parameters: u64,
    /// Tensors written.
    pub tensors: usize,
}
