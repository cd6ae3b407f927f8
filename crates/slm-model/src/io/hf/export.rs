//! Writing a model as a Hugging Face model directory (`config.json`, `model.safetensors` with HF tensor
//! names and shapes, tokenizer files, `generation_config.json`) that `transformers` loads unchanged.

use std::path::Path;

use serde_json::json;

use crate::error::{ModelError, Result};
use crate::io::model_dir::{copy_present, publish, read_json_if_present, refuse_existing, staging_dir, write_json};
use crate::io::safetensors::{host_tensors, write_raw};
use crate::transformer::Transformer;

/// How a Hugging Face model directory stores its tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HfDtype {
    /// 32-bit floats.
    #[default]
    F32,
    /// IEEE half precision (half the size).
    F16,
    /// bfloat16 (half the size, f32's range).
    Bf16,
}

impl HfDtype {
    /// `torch_dtype` of config.json.
    fn torch_dtype(self) -> &'static str {
        match self {
            HfDtype::F32 => "float32",
            HfDtype::F16 => "float16",
            HfDtype::Bf16 => "bfloat16",
        }
    }

    /// The safetensors type and little-endian bytes of `values`.
    fn encode(self, values: &[f32]) -> (safetensors::Dtype, Vec<u8>) {
        match self {
            HfDtype::F32 => (safetensors::Dtype::F32, values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            HfDtype::F16 => {
                (safetensors::Dtype::F16, values.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect())
            }
            HfDtype::Bf16 => {
                (safetensors::Dtype::BF16, values.iter().flat_map(|v| half::bf16::from_f32(*v).to_le_bytes()).collect())
            }
        }
    }
}

/// Host copies of a model's parameters in HF layout: `(name, shape, values)`.
pub fn hf_tensors(model: &mut Transformer) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    host_tensors(model.params())
}

/// Writes `model` as an HF model directory at `out`: config.json, model.safetensors (in `dtype`),
/// generation_config.json, and the tokenizer files copied from `tokenizer_dir`. Assembled beside `out` and
/// renamed into place, so `out` is never half-written.
///
/// # Errors
/// The model carries unmerged LoRA adapters, `out` exists and `overwrite` is false, or a write fails.
pub fn save_pretrained(
    model: &mut Transformer,
    out: &Path,
    tokenizer_dir: &Path,
    dtype: HfDtype,
    overwrite: bool,
) -> Result<()> {
    if model.lora.is_some() {
        return Err(ModelError::format(
            out,
            "the model carries LoRA adapters; merge them (`--merge-lora`) or save the adapter",
        ));
    }
    refuse_existing(out, overwrite)?;
    let tmp = staging_dir(out)?;
    let tensors: Vec<_> = hf_tensors(model).into_iter().map(|(n, s, v)| (n, s, dtype.encode(&v))).collect();
    let st_path = tmp.path().join("model.safetensors");
    write_raw(tensors.iter().map(|(n, s, (d, b))| (n.as_str(), *d, s.as_slice(), b.as_slice())), &st_path)?;
    let mut config = model.config.to_hf();
    config["torch_dtype"] = json!(dtype.torch_dtype());
    let tok_config = read_json_if_present(tokenizer_dir, "tokenizer_config.json")?.unwrap_or_default();
    let tok_path = tokenizer_dir.join("tokenizer.json");
    if !tok_path.is_file() {
        return Err(ModelError::format(&tok_path, "is missing; a model directory needs its tokenizer"));
    }
    let tokenizer = crate::io::model_dir::read_tokenizer(tokenizer_dir)?;
    let id = |key: &str| tok_config[key].as_str().and_then(|t| tokenizer.token_to_id(t));
    let (bos, eos, pad) = (id("bos_token"), id("eos_token"), id("pad_token"));
    config["bos_token_id"] = json!(bos);
    config["eos_token_id"] = json!(eos);
    config["pad_token_id"] = json!(pad);
    write_json(tmp.path(), "config.json", &config)?;
    write_json(
        tmp.path(),
        "generation_config.json",
        &json!({"bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad}),
    )?;
    copy_present(tokenizer_dir, tmp.path(), &["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"])?;
    publish(tmp, out)
}
