//! Writing models in the Hugging Face layout: `model.safetensors` with HF tensor names and shapes, and a
//! whole model directory (`config.json`, weights, tokenizer files, `generation_config.json`) that
//! `transformers` loads unchanged.

use std::path::Path;

use serde_json::json;

use crate::error::{ModelError, Result};
use crate::hf::{bytemuck_f32, copy_present, publish, refuse_existing, staging_dir, write_json};
use crate::layers::TensorMut;
use crate::transformer::Transformer;

/// Writes f32 tensors `(name, shape, values)` to a safetensors file readable by everyone.
///
/// # Errors
/// The file cannot be written.
pub fn write_safetensors<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a [usize], &'a [f32])>,
    path: &Path,
) -> Result<()> {
    let tensors =
        tensors.into_iter().map(|(name, shape, data)| (name, safetensors::Dtype::F32, shape, bytemuck_f32(data)));
    write_raw(tensors, path)
}

/// Writes tensors `(name, dtype, shape, little-endian bytes)` to a safetensors file readable by everyone.
///
/// # Errors
/// The file cannot be written.
pub fn write_raw<'a>(
    tensors: impl IntoIterator<Item = (&'a str, safetensors::Dtype, &'a [usize], &'a [u8])>,
    path: &Path,
) -> Result<()> {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .into_iter()
        .map(|(name, dtype, shape, bytes)| {
            let view =
                safetensors::tensor::TensorView::new(dtype, shape.to_vec(), bytes).expect("shape matches the data");
            (name.to_owned(), view)
        })
        .collect();
    let meta = std::collections::HashMap::from([("format".to_owned(), "pt".to_owned())]);
    safetensors::serialize_to_file(views, Some(meta), path)
        .map_err(|e| ModelError::format(path, format!("cannot write safetensors: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| ModelError::Io { path: path.to_owned(), source: e })?;
    }
    Ok(())
}

/// Host copies of a model's parameters in HF layout: `(name, shape, values)`.
pub fn hf_tensors(model: &mut Transformer) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    host_tensors(model.params())
}

/// Host copies of `params` in HF layout: `(name, shape, values)`.
pub fn host_tensors(params: Vec<crate::layers::ParamMut<'_>>) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    params
        .into_iter()
        .map(|p| {
            let (shape, values) = match p.tensor {
                TensorMut::Vector(t) => (t.dims().to_vec(), to_vec(t.clone().into_data())),
                TensorMut::Matrix(t) if p.hf_transposed => {
                    let [r, c] = t.dims();
                    (vec![c, r], to_vec(t.clone().transpose().into_data()))
                }
                TensorMut::Matrix(t) => (t.dims().to_vec(), to_vec(t.clone().into_data())),
            };
            (p.name, shape, values)
        })
        .collect()
}

fn to_vec(data: burn::tensor::TensorData) -> Vec<f32> {
    data.convert::<f32>().try_into_vec::<f32>().expect("f32 data")
}

/// Writes `model` as an HF model directory at `out`: config.json, model.safetensors (f32),
/// generation_config.json, and the tokenizer files copied from `tokenizer_dir`. Assembled beside `out` and
/// renamed into place, so `out` is never half-written.
///
/// # Errors
/// The model carries unmerged LoRA adapters, `out` exists and `overwrite` is false, or a write fails.
pub fn save_pretrained(model: &mut Transformer, out: &Path, tokenizer_dir: &Path, overwrite: bool) -> Result<()> {
    if model.lora.is_some() {
        return Err(ModelError::format(
            out,
            "the model carries LoRA adapters; merge them (`--merge-lora`) or save the adapter",
        ));
    }
    refuse_existing(out, overwrite)?;
    let tmp = staging_dir(out)?;
    let tensors = hf_tensors(model);
    let st_path = tmp.path().join("model.safetensors");
    write_safetensors(tensors.iter().map(|(n, s, v)| (n.as_str(), s.as_slice(), v.as_slice())), &st_path)?;
    let mut config = model.config.to_hf();
    let tok_config: serde_json::Value = std::fs::read_to_string(tokenizer_dir.join("tokenizer_config.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let tokenizer = tokenizers::Tokenizer::from_file(tokenizer_dir.join("tokenizer.json")).ok();
    let id = |key: &str| tok_config[key].as_str().and_then(|t| tokenizer.as_ref().and_then(|tk| tk.token_to_id(t)));
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
