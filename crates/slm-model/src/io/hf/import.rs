//! `slm import` of a Hugging Face model directory: every weight and the tokenizer are checked by loading
//! them, then the files are copied (shards merged into one `model.safetensors`).

use std::path::Path;

use serde_json::json;

use crate::error::{ModelError, Result};
use crate::io::ImportSummary;
use crate::io::model_dir::{copy_present, publish, refuse_existing, staging_dir, write_json};
use crate::io::safetensors::write_safetensors;
use crate::transformer::Transformer;

/// Imports a Hugging Face model directory of the llama family: checks `config.json`, every weight the
/// architecture needs (in `model.safetensors` or shards listed by `model.safetensors.index.json`, merged into
/// one file; f32/f16/bf16) and the tokenizer, then copies the files
/// into `out` (assembled under a temporary name and renamed, like [`import_gguf`]).
///
/// # Errors
/// A missing file or tensor, an unsupported `model_type` or dtype, an existing `out` without `overwrite`.
pub fn import_hf_dir(src: &Path, out: &Path, overwrite: bool) -> Result<ImportSummary> {
    refuse_existing(out, overwrite)?;
    let config_path = src.join("config.json");
    let text =
        std::fs::read_to_string(&config_path).map_err(|e| ModelError::Io { path: config_path.clone(), source: e })?;
    let config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ModelError::format(&config_path, format!("not JSON: {e}")))?;
    let model_type = config["model_type"].as_str().unwrap_or_default();
    if !matches!(model_type, "llama" | "mistral" | "qwen2" | "phi3" | "gpt2") {
        return Err(ModelError::Unsupported {
            path: config_path,
            what: format!("model_type `{model_type}`"),
            supported: "slm imports gpt2 and llama-family directories (llama, mistral, qwen2, phi3)".into(),
        });
    }
    // Loading the model proves every tensor is there with a supported dtype and shape.
    let device = burn::prelude::Device::flex();
    let model = Transformer::load(src, &device)?;
    let architecture = model.config.to_hf()["architectures"][0].as_str().unwrap_or_default().to_owned();
    crate::io::model_dir::read_tokenizer(src)?;
    let tmp = staging_dir(out)?;
    if src.join("model.safetensors.index.json").is_file() {
        // Shards are merged into one f32 model.safetensors.
        let mut model = model;
        let tensors = super::export::hf_tensors(&mut model);
        let path = tmp.path().join("model.safetensors");
        write_safetensors(tensors.iter().map(|(n, s, v)| (n.as_str(), s.as_slice(), v.as_slice())), &path)?;
    }
    copy_present(
        src,
        tmp.path(),
        &["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"],
    )?;
    write_json(tmp.path(), "slm.json", &json!({"source": {"format": "hf", "dir": src.display().to_string()}}))?;
    publish(tmp, out)?;
    let weights = out.join("model.safetensors");
    let file = std::fs::File::open(&weights).map_err(|e| ModelError::Io { path: weights.clone(), source: e })?;
    // SAFETY: read-only map of the file just written; nothing modifies it meanwhile.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| ModelError::Io { path: weights.clone(), source: e })?;
    let st = safetensors::SafeTensors::deserialize(&map)
        .map_err(|e| ModelError::format(&weights, format!("not a safetensors file: {e}")))?;
    let parameters = st.tensors().iter().map(|(_, t)| t.shape().iter().product::<usize>() as u64).sum();
    Ok(ImportSummary { out: out.to_owned(), architecture, parameters, tensors: st.len() })
}
