//! Writing GGUF v3 files that llama.cpp runs: a Llama-family model directory becomes the `llama`
//! architecture with llama.cpp's tensor names (q/k rows in its rotary order), `llama.*` hyper-parameters,
//! the byte-level BPE tokenizer (`tokenizer.ggml.*`: tokens, token types, merges, pre-tokenizer, special
//! ids) and the chat template. Matrices are stored F32, F16 or Q8_0 (blocks of 32: an f16 scale
//! `amax / 127` and 32 rounded i8, as ggml's reference quantizer); norms stay F32.

use std::path::Path;

use half::f16;
use serde_json::Value as Json;
use slm_data::records::AtomicFile;

use super::import::{LAYER_PARTS, LlamaDims, hf_name, permute};
use crate::error::{ModelError, Result};
use crate::transformer::Transformer;
use crate::{Family, Head};

/// The storage type of the exported matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportType {
    /// Every tensor in f32.
    F32,
    /// Matrices in f16, norms in f32.
    F16,
    /// Matrices in 8-bit blocks, norms in f32.
    Q8_0,
}

impl ExportType {
    /// Its name: `f32`, `f16` or `q8_0`.
    pub fn name(self) -> &'static str {
        match self {
            ExportType::F32 => "f32",
            ExportType::F16 => "f16",
            ExportType::Q8_0 => "q8_0",
        }
    }

    /// `general.file_type` (llama.cpp's `LLAMA_FTYPE_*`).
    fn file_type(self) -> u32 {
        match self {
            ExportType::F32 => 0,
            ExportType::F16 => 1,
            ExportType::Q8_0 => 7,
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    /// Tensors written.
    pub tensors: usize,
    /// Bytes of the file.
    pub bytes: u64,
}

const ALIGNMENT: u64 = 32;
const NORMAL: i32 = 1;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;

/// A metadata value with its GGUF type.
enum Meta {
    U32(u32),
    F32(f32),
    Bool(bool),
    Str(String),
    Strs(Vec<String>),
    I32s(Vec<i32>),
}

/// Writes `model` (loaded from `dir`, whose tokenizer files it uses) as a GGUF file at `out`, atomically.
///
/// # Errors
/// A model other than a plain Llama (GPT-2, biases, fused projections, another head), a tokenizer other
/// than byte-level BPE, an existing `out` without `overwrite`, a write failure.
pub fn export_gguf(
    model: &mut Transformer,
    dir: &Path,
    out: &Path,
    dtype: ExportType,
    overwrite: bool,
) -> Result<ExportSummary> {
    // Refuses an existing `out` before any work; nothing appears at `out` unless every byte is written.
    let mut file = AtomicFile::create(out, overwrite)?;
    let c = model.config.clone();
    let unsupported = |what: &str| ModelError::Unsupported {
        path: dir.to_owned(),
        what: what.into(),
        supported:
            "slm writes GGUF for Llama-family causal LMs without biases or fused projections (llama.cpp's `llama`)"
                .into(),
    };
    if c.family == Family::Gpt2 {
        return Err(unsupported("a GPT-2 model"));
    }
    if c.attention_bias || c.fused_projections || c.head != Head::CausalLm {
        return Err(unsupported("this Llama variant (q/k/v biases, fused projections or a non-LM head)"));
    }
    let mut meta = vec![
        ("general.architecture", Meta::Str("llama".into())),
        ("general.name", Meta::Str(model_name(dir))),
        ("general.file_type", Meta::U32(dtype.file_type())),
        ("llama.block_count", Meta::U32(c.num_layers as u32)),
        ("llama.context_length", Meta::U32(c.max_positions as u32)),
        ("llama.embedding_length", Meta::U32(c.hidden_size as u32)),
        ("llama.feed_forward_length", Meta::U32(c.intermediate_size as u32)),
        ("llama.attention.head_count", Meta::U32(c.num_heads as u32)),
        ("llama.attention.head_count_kv", Meta::U32(c.num_kv_heads as u32)),
        ("llama.rope.freq_base", Meta::F32(c.rope_theta as f32)),
        ("llama.attention.layer_norm_rms_epsilon", Meta::F32(c.norm_eps as f32)),
        ("llama.vocab_size", Meta::U32(c.vocab_size as u32)),
        ("llama.rope.dimension_count", Meta::U32(c.head_dim() as u32)),
    ];
    if dtype == ExportType::Q8_0 {
        meta.push(("general.quantization_version", Meta::U32(2)));
    }
    meta.extend(tokenizer_meta(dir, c.vocab_size)?);

    let dims = LlamaDims {
        layers: c.num_layers as u64,
        hidden: c.hidden_size as u64,
        ffn: c.intermediate_size as u64,
        heads: c.num_heads as u64,
        kv_heads: c.num_kv_heads as u64,
        context: c.max_positions as u64,
        rope_theta: c.rope_theta,
        rms_eps: c.norm_eps,
        vocab: c.vocab_size as u64,
    };
    let mut by_name: std::collections::HashMap<String, (Vec<usize>, Vec<f32>)> =
        crate::io::hf::hf_tensors(model).into_iter().map(|(n, s, v)| (n, (s, v))).collect();
    let mut names = vec!["token_embd.weight".to_owned()];
    for l in 0..c.num_layers {
        names.extend(LAYER_PARTS.iter().map(|p| format!("blk.{l}.{p}.weight")));
    }
    names.push("output_norm.weight".into());
    if by_name.contains_key("lm_head.weight") {
        names.push("output.weight".into());
    }
    let mut tensors = Vec::with_capacity(names.len());
    for name in names {
        let (hf, heads) = hf_name(&name, &dims).expect("a llama.cpp name of the table");
        let (shape, mut values) =
            by_name.remove(&hf).ok_or_else(|| ModelError::format(dir, format!("tensor `{hf}` is missing")))?;
        if let Some(heads) = heads {
            values = permute(&values, shape[0], shape[1], heads as usize);
        }
        tensors.push((name, shape, values));
    }
    let written = write_file(&mut file, &meta, &tensors, dtype)?;
    file.commit()?;
    Ok(ExportSummary { tensors: tensors.len(), bytes: written })
}

/// `general.name`: the name the model was imported under, or the directory's name.
fn model_name(dir: &Path) -> String {
    let slm: Json = std::fs::read_to_string(dir.join("slm.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    slm["source"]["name"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| dir.file_name().map_or("slm model".into(), |n| n.to_string_lossy().into_owned()))
}

/// The `tokenizer.*` keys from `dir/tokenizer.json` and `tokenizer_config.json`.
fn tokenizer_meta(dir: &Path, vocab: usize) -> Result<Vec<(&'static str, Meta)>> {
    let path = dir.join("tokenizer.json");
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Io { path: path.clone(), source: e })?;
    let tj: Json =
        serde_json::from_str(&text).map_err(|e| ModelError::format(&path, format!("not valid JSON: {e}")))?;
    let unsupported = |what: String| ModelError::Unsupported {
        path: path.clone(),
        what,
        supported: "GGUF export writes byte-level BPE tokenizers (GPT-2 style, optionally with SmolLM's digit split)"
            .into(),
    };
    if tj["model"]["type"].as_str() != Some("BPE") {
        return Err(unsupported(format!("a {} tokenizer", tj["model"]["type"].as_str().unwrap_or("non-BPE"))));
    }
    let pre = pre_tokenizer_name(&tj["pre_tokenizer"]).ok_or_else(|| unsupported("this pre-tokenizer".into()))?;
    let mut tokens: Vec<Option<String>> = vec![None; vocab];
    let mut types = vec![NORMAL; vocab];
    for (token, id) in tj["model"]["vocab"].as_object().into_iter().flatten() {
        if let Some(slot) = id.as_u64().and_then(|i| tokens.get_mut(i as usize)) {
            *slot = Some(token.clone());
        }
    }
    for added in tj["added_tokens"].as_array().into_iter().flatten() {
        let (Some(id), Some(content)) = (added["id"].as_u64(), added["content"].as_str()) else { continue };
        if let Some(slot) = tokens.get_mut(id as usize) {
            *slot = Some(content.to_owned());
            types[id as usize] = if added["special"].as_bool() == Some(true) { CONTROL } else { USER_DEFINED };
        }
    }
    let missing = tokens.iter().position(Option::is_none);
    if let Some(id) = missing {
        return Err(ModelError::format(&path, format!("has no token with id {id} (the model predicts {vocab})")));
    }
    let tokens: Vec<String> = tokens.into_iter().flatten().collect();
    let merges: Vec<String> = tj["model"]["merges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| match m {
            Json::String(s) => Some(s.clone()),
            Json::Array(pair) => Some(format!("{} {}", pair.first()?.as_str()?, pair.get(1)?.as_str()?)),
            _ => None,
        })
        .collect();
    let config: Json = crate::io::model_dir::read_json_if_present(dir, "tokenizer_config.json")?.unwrap_or_default();
    let id_of =
        |key: &str| config[key].as_str().and_then(|t| tokens.iter().position(|x| x == t)).map(|i| Meta::U32(i as u32));
    let mut meta = vec![
        ("tokenizer.ggml.add_space_prefix", Meta::Bool(false)),
        ("tokenizer.ggml.add_bos_token", Meta::Bool(config["add_bos_token"].as_bool() == Some(true))),
        ("tokenizer.ggml.model", Meta::Str("gpt2".into())),
        ("tokenizer.ggml.pre", Meta::Str(pre.into())),
    ];
    let ids = [
        ("tokenizer.ggml.bos_token_id", id_of("bos_token")),
        ("tokenizer.ggml.eos_token_id", id_of("eos_token")),
        ("tokenizer.ggml.unknown_token_id", id_of("unk_token")),
        ("tokenizer.ggml.padding_token_id", id_of("pad_token")),
    ];
    meta.push(("tokenizer.ggml.tokens", Meta::Strs(tokens)));
    meta.push(("tokenizer.ggml.token_type", Meta::I32s(types)));
    meta.push(("tokenizer.ggml.merges", Meta::Strs(merges)));
    meta.extend(ids.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    if let Some(template) = config["chat_template"].as_str() {
        meta.push(("tokenizer.chat_template", Meta::Str(template.to_owned())));
    }
    Ok(meta)
}

/// llama.cpp's name of an HF byte-level pre-tokenizer: plain ByteLevel is `gpt2`; individual digits then
/// ByteLevel is `smollm` (the layout slm's GGUF import builds for it).
fn pre_tokenizer_name(pre: &Json) -> Option<&'static str> {
    let byte_level =
        |p: &Json| p["type"].as_str() == Some("ByteLevel") && p["add_prefix_space"].as_bool() != Some(true);
    if byte_level(pre) {
        return Some("gpt2");
    }
    let steps = pre["pretokenizers"].as_array().filter(|_| pre["type"].as_str() == Some("Sequence"))?;
    match steps.as_slice() {
        [digits, bl]
            if digits["type"].as_str() == Some("Digits")
                && digits["individual_digits"].as_bool() == Some(true)
                && byte_level(bl) =>
        {
            Some("smollm")
        }
        _ => None,
    }
}

/// Appends a GGUF string (u64 length, bytes).
fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend((s.len() as u64).to_le_bytes());
    buf.extend(s.as_bytes());
}

fn put_meta(buf: &mut Vec<u8>, key: &str, value: &Meta) {
    put_str(buf, key);
    let array = |buf: &mut Vec<u8>, ty: u32, n: usize| {
        buf.extend(9u32.to_le_bytes());
        buf.extend(ty.to_le_bytes());
        buf.extend((n as u64).to_le_bytes());
    };
    match value {
        Meta::U32(v) => {
            buf.extend(4u32.to_le_bytes());
            buf.extend(v.to_le_bytes());
        }
        Meta::F32(v) => {
            buf.extend(6u32.to_le_bytes());
            buf.extend(v.to_le_bytes());
        }
        Meta::Bool(v) => {
            buf.extend(7u32.to_le_bytes());
            buf.push(u8::from(*v));
        }
        Meta::Str(s) => {
            buf.extend(8u32.to_le_bytes());
            put_str(buf, s);
        }
        Meta::Strs(v) => {
            array(buf, 8, v.len());
            v.iter().for_each(|s| put_str(buf, s));
        }
        Meta::I32s(v) => {
            array(buf, 5, v.len());
            v.iter().for_each(|x| buf.extend(x.to_le_bytes()));
        }
    }
}

/// The ggml type id and bytes of `values` (shape `shape`) stored as `dtype`; vectors stay f32, and so does
/// a matrix whose rows are not whole Q8_0 blocks.
fn encode(shape: &[usize], values: &[f32], dtype: ExportType) -> (u32, Vec<u8>) {
    let row = *shape.last().expect("a shape");
    match dtype {
        _ if shape.len() < 2 => (0, values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ExportType::F16 => (1, values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect()),
        ExportType::Q8_0 if row.is_multiple_of(32) => (8, quantize_q8_0(values)),
        _ => (0, values.iter().flat_map(|v| v.to_le_bytes()).collect()),
    }
}

/// ggml's reference Q8_0 quantizer: per block of 32, d = max|x| / 127 stored as f16, q = round(x / d).
pub fn quantize_q8_0(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / 32 * 34);
    for block in values.chunks_exact(32) {
        let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let inv = if d == 0.0 { 0.0 } else { 1.0 / d };
        out.extend(f16::from_f32(d).to_le_bytes());
        out.extend(block.iter().map(|v| (v * inv).round() as i8 as u8));
    }
    out
}

/// Writes the header, metadata, tensor descriptions and aligned tensor data to `file`; returns its size.
fn write_file(
    file: &mut AtomicFile,
    meta: &[(&str, Meta)],
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    dtype: ExportType,
) -> Result<u64> {
    let encoded: Vec<(u32, Vec<u8>)> = tensors.iter().map(|(_, shape, values)| encode(shape, values, dtype)).collect();
    let mut head = Vec::new();
    head.extend(b"GGUF");
    head.extend(3u32.to_le_bytes());
    head.extend((tensors.len() as u64).to_le_bytes());
    head.extend((meta.len() as u64).to_le_bytes());
    for (k, v) in meta {
        put_meta(&mut head, k, v);
    }
    let mut offset = 0u64;
    for ((name, shape, _), (ty, bytes)) in tensors.iter().zip(&encoded) {
        put_str(&mut head, name);
        head.extend((shape.len() as u32).to_le_bytes());
        // GGUF lists dimensions innermost first.
        shape.iter().rev().for_each(|d| head.extend((*d as u64).to_le_bytes()));
        head.extend(ty.to_le_bytes());
        head.extend(offset.to_le_bytes());
        offset = (offset + bytes.len() as u64).next_multiple_of(ALIGNMENT);
    }
    head.resize((head.len() as u64).next_multiple_of(ALIGNMENT) as usize, 0);
    file.write_all(&head)?;
    let mut written = head.len() as u64;
    for (_, bytes) in &encoded {
        file.write_all(bytes)?;
        let padded = (bytes.len() as u64).next_multiple_of(ALIGNMENT);
        file.write_all(&vec![0u8; (padded - bytes.len() as u64) as usize])?;
        written += padded;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::gguf::GgmlType;

    /// Q8_0 blocks dequantize (with the reader's ggml-exact dequantizer) to within half a step of the
    /// input, plus the f16 rounding of the step over at most 127 steps (2^-11 · 127 < 0.07 steps).
    #[test]
    fn q8_0_round_trips_within_half_a_step() {
        let values: Vec<f32> = (0..96).map(|i| ((i as f32) * 0.37).sin() * (1.0 + i as f32 / 10.0)).collect();
        let bytes = quantize_q8_0(&values);
        assert_eq!(bytes.len(), 3 * 34);
        let back = GgmlType::Q8_0.dequantize(&bytes);
        for (block, (x, y)) in values.chunks(32).zip(back.chunks(32)).enumerate() {
            let d = f16::from_le_bytes([bytes[block * 34], bytes[block * 34 + 1]]).to_f32();
            for (a, b) in x.iter().zip(y) {
                assert!((a - b).abs() <= d * 0.57, "{a} vs {b} (step {d})");
            }
        }
        assert_eq!(quantize_q8_0(&[0.0; 32])[2..], [0u8; 32]);
    }
}
