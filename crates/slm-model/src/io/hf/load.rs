//! Loading a model from a Hugging Face model directory, or from a PEFT adapter directory over its base.

use std::path::Path;

use burn::prelude::*;

use crate::config::Config;
use crate::error::Result;
use crate::io::peft;
use crate::io::safetensors::DirWeights;
use crate::transformer::Transformer;

impl Transformer {
    /// Loads an HF model directory (config.json and model.safetensors, or its shards, in f32/f16/bf16), or a
    /// PEFT LoRA adapter directory (its base model with the adapters attached, unmerged). A classification
    /// head missing from the file (fine-tuning a language model into a classifier) starts fresh.
    ///
    /// # Errors
    /// A missing or malformed file, or a missing tensor or one of the wrong shape.
    pub fn load(dir: &Path, device: &Device) -> Result<Transformer> {
        if peft::is_adapter(dir) {
            let (_, base) = peft::read_config(dir)?;
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
        Transformer::from_checkpoint(config, &DirWeights::open(dir)?, device)
    }
}
