//! Hugging Face model directories: `config.json`, `model.safetensors` (or shards), tokenizer files and
//! `generation_config.json`, read ([`Transformer::load`](crate::Transformer::load)), written
//! ([`save_pretrained`]) and imported ([`import_hf_dir`]).

mod export;
mod import;
mod load;

pub use export::{HfDtype, hf_tensors, save_pretrained};
pub use import::import_hf_dir;
