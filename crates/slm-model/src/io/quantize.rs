//! `slm quantize`: store a model in half precision or int8.
//!
//! - `f16` / `bf16`: every tensor is stored in the half type (half the f32 size); loading converts back
//!   to f32.
//! - `int8`: symmetric weight-only quantization of the linear layers' matrices, one f32 scale per output
//!   channel (`scale = max|w| / 127`, `q = round(w / scale)`), stored as `<name>` (I8) and
//!   `<name>_scale` (F32); embeddings and the LM head are stored in f16, norms and biases stay f32.
//!   Loading dequantizes to f32 once (inference then runs in f32; Burn 0.22's quantized tensors are not
//!   used).
//!
//! The output is a model directory like the input's, with `slm.json` recording the quantization.

use std::path::Path;

use half::{bf16, f16};
use serde_json::json;

use super::model_dir::{copy_present, publish, refuse_existing, staging_dir, write_json};
use super::safetensors::{Weights, write_raw};
use crate::error::{ModelError, Result};

/// A storage precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Precision {
    /// IEEE half.
    F16,
    /// bfloat16.
    Bf16,
    /// int8 weights with per-output-channel f32 scales.
    Int8,
}

impl Precision {
    fn name(self) -> &'static str {
        match self {
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
        }
    }
}

/// What a quantization wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizeSummary {
    /// Bytes of the input model.safetensors.
    pub bytes_in: u64,
    /// Bytes of the output model.safetensors.
    pub bytes_out: u64,
    /// Matrices stored in int8.
    pub int8_tensors: usize,
}

/// Whether int8 applies to `name`: linear-layer matrices, not embeddings or the LM head.
fn is_linear(name: &str, shape: &[usize]) -> bool {
    shape.len() == 2
        && name.ends_with(".weight")
        && !name.contains("embed")
        && !name.contains("wte")
        && !name.contains("wpe")
        && name != "lm_head.weight"
}

/// Symmetric int8 of a `[rows, cols]` matrix, one scale per row.
pub fn quantize_rows(values: &[f32], cols: usize) -> (Vec<i8>, Vec<f32>) {
    let mut q = Vec::with_capacity(values.len());
    let mut scales = Vec::with_capacity(values.len() / cols.max(1));
    for row in values.chunks(cols) {
        let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(scale);
        q.extend(row.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8));
    }
    (q, scales)
}

/// Writes the model directory `src` at `out` in precision `to`.
///
/// # Errors
/// `src` is not an f32 model (already quantized or half precision), `out` exists without `overwrite`, or a
/// read or write fails.
pub fn quantize_dir(src: &Path, out: &Path, to: Precision, overwrite: bool) -> Result<QuantizeSummary> {
    refuse_existing(out, overwrite)?;
    let path = src.join("model.safetensors");
    let weights = Weights::open(&path)?;
    let mut names = weights.names()?;
    names.sort();
    for name in &names {
        if let Some(dtype) = weights.dtype(name)?.filter(|d| *d != safetensors::Dtype::F32) {
            return Err(ModelError::format(
                &path,
                format!("is already quantized or half precision (`{name}` is {dtype:?}); quantize the f32 model"),
            ));
        }
    }
    // (name, dtype, shape, bytes)
    let mut tensors: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut int8_tensors = 0;
    for name in &names {
        let (shape, values) = weights.raw(name)?.expect("listed tensor");
        match to {
            Precision::F16 => {
                let bytes = values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect();
                tensors.push((name.clone(), safetensors::Dtype::F16, shape, bytes));
            }
            Precision::Bf16 => {
                let bytes = values.iter().flat_map(|v| bf16::from_f32(*v).to_le_bytes()).collect();
                tensors.push((name.clone(), safetensors::Dtype::BF16, shape, bytes));
            }
            Precision::Int8 if is_linear(name, &shape) => {
                let (q, scales) = quantize_rows(&values, shape[1]);
                tensors.push((
                    name.clone(),
                    safetensors::Dtype::I8,
                    shape.clone(),
                    q.iter().map(|v| *v as u8).collect(),
                ));
                let scale_bytes = scales.iter().flat_map(|s| s.to_le_bytes()).collect();
                tensors.push((format!("{name}_scale"), safetensors::Dtype::F32, vec![shape[0]], scale_bytes));
                int8_tensors += 1;
            }
            Precision::Int8 if shape.len() == 2 => {
                // Embeddings and the LM head: f16, higher precision than int8 at half the f32 size.
                let bytes = values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect();
                tensors.push((name.clone(), safetensors::Dtype::F16, shape, bytes));
            }
            Precision::Int8 => {
                let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                tensors.push((name.clone(), safetensors::Dtype::F32, shape, bytes));
            }
        }
    }
    let tmp = staging_dir(out)?;
    let st_path = tmp.path().join("model.safetensors");
    write_raw(
        tensors.iter().map(|(n, dtype, shape, bytes)| (n.as_str(), *dtype, shape.as_slice(), bytes.as_slice())),
        &st_path,
    )?;
    copy_present(
        src,
        tmp.path(),
        &[
            "config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "generation_config.json",
            "special_tokens_map.json",
        ],
    )?;
    let mut slm: serde_json::Value = std::fs::read_to_string(src.join("slm.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| json!({}));
    slm["quantization"] = match to {
        Precision::Int8 => json!({"method": "int8", "scheme": "symmetric, one f32 scale per output channel",
                                  "scales": "<name>_scale", "f16": "embeddings, LM head", "f32": "norms, biases",
                                  "inference": "dequantized to f32 at load"}),
        other => json!({"method": other.name(), "inference": "converted to f32 at load"}),
    };
    write_json(tmp.path(), "slm.json", &slm)?;
    let bytes_in = std::fs::metadata(&path).map_err(|e| ModelError::Io { path: path.clone(), source: e })?.len();
    let bytes_out = std::fs::metadata(&st_path).map_err(|e| ModelError::Io { path: st_path.clone(), source: e })?.len();
    publish(tmp, out)?;
    Ok(QuantizeSummary { bytes_in, bytes_out, int8_tensors })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_rows_round_trip_within_half_a_step() {
        let values: Vec<f32> = (0..64).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
        let (q, scales) = quantize_rows(&values, 16);
        assert_eq!(scales.len(), 4);
        for (i, (v, q)) in values.iter().zip(&q).enumerate() {
            let back = f32::from(*q) * scales[i / 16];
            assert!((v - back).abs() <= scales[i / 16] / 2.0 + 1e-6, "{v} vs {back}");
        }
        // The largest magnitude of each row maps to ±127.
        assert!(q.chunks(16).all(|row| row.iter().any(|x| x.abs() == 127)));
    }
}
