//! The Hugging Face model directory, written from a GGUF file: `config.json` (HF keys), `model.safetensors`
//! (HF tensor names, f32), `tokenizer.json`, `tokenizer_config.json` (special tokens and chat template),
//! `generation_config.json`, and `slm.json` (where the weights came from). The directory is assembled
//! under a temporary name beside the target and renamed into place, so a failure leaves nothing behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::error::{ModelError, Result};
use crate::gguf::{Gguf, TensorInfo, Value, to_hf_tokenizer};

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

/// Llama hyper-parameters as GGUF metadata holds them.
pub(crate) struct LlamaDims {
    pub(crate) layers: u64,
    pub(crate) hidden: u64,
    pub(crate) ffn: u64,
    pub(crate) heads: u64,
    pub(crate) kv_heads: u64,
    pub(crate) context: u64,
    pub(crate) rope_theta: f64,
    pub(crate) rms_eps: f64,
    pub(crate) vocab: u64,
}

/// The tensors of every llama.cpp block, `blk.N.<part>.weight`.
pub(crate) const LAYER_PARTS: [&str; 9] =
    ["attn_norm", "ffn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];

fn llama_dims(g: &Gguf) -> Result<LlamaDims> {
    let int = |key: &str| {
        g.require(key)?.as_u64().ok_or_else(|| ModelError::format(g.path(), format!("`{key}` must be an integer")))
    };
    // GGUF stores these as f32; print them as the shortest decimal that is that f32 (1e-5, not 9.99e-6).
    let float = |key: &str, default: f64| {
        let x = g.get(key).and_then(Value::as_f64).unwrap_or(default) as f32;
        x.to_string().parse::<f64>().expect("a float prints as a float")
    };
    let heads = int("llama.attention.head_count")?;
    let vocab = match g.get("llama.vocab_size").and_then(Value::as_u64) {
        Some(v) => v,
        None => g.require("tokenizer.ggml.tokens")?.as_array().map_or(0, |a| a.len() as u64),
    };
    Ok(LlamaDims {
        layers: int("llama.block_count")?,
        hidden: int("llama.embedding_length")?,
        ffn: int("llama.feed_forward_length")?,
        heads,
        kv_heads: g.get("llama.attention.head_count_kv").and_then(Value::as_u64).unwrap_or(heads),
        context: int("llama.context_length")?,
        rope_theta: float("llama.rope.freq_base", 10_000.0),
        rms_eps: float("llama.attention.layer_norm_rms_epsilon", 1e-5),
        vocab,
    })
}

/// The HF name of a llama.cpp tensor, and the number of heads to un-permute its rows by (q and k).
pub(crate) fn hf_name(name: &str, d: &LlamaDims) -> Option<(String, Option<u64>)> {
    let fixed = match name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(n) = fixed {
        return Some((n.to_owned(), None));
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, part) = rest.split_once('.')?;
    let layer: u64 = layer.parse().ok()?;
    let (hf, heads) = match part {
        "attn_norm.weight" => ("input_layernorm.weight", None),
        "ffn_norm.weight" => ("post_attention_layernorm.weight", None),
        "attn_q.weight" => ("self_attn.q_proj.weight", Some(d.heads)),
        "attn_k.weight" => ("self_attn.k_proj.weight", Some(d.kv_heads)),
        "attn_v.weight" => ("self_attn.v_proj.weight", None),
        "attn_output.weight" => ("self_attn.o_proj.weight", None),
        "ffn_gate.weight" => ("mlp.gate_proj.weight", None),
        "ffn_up.weight" => ("mlp.up_proj.weight", None),
        "ffn_down.weight" => ("mlp.down_proj.weight", None),
        _ => return None,
    };
    Some((format!("model.layers.{layer}.{hf}"), heads))
}

/// llama.cpp's converter interleaves the two rotary halves of each head of the q/k projections: GGUF row
/// `h·hd + 2i + j` is HF row `h·hd + j·hd/2 + i`. Yields (GGUF row, HF row) for every row.
fn rope_rows(rows: usize, heads: usize) -> impl Iterator<Item = (usize, usize)> {
    let hd = rows / heads;
    let half = hd / 2;
    (0..heads).flat_map(move |h| {
        (0..half).flat_map(move |i| (0..2).map(move |j| (h * hd + 2 * i + j, h * hd + j * half + i)))
    })
}

/// GGUF q/k rows in HF's order.
fn unpermute(data: &[f32], rows: usize, cols: usize, heads: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for (gguf, hf) in rope_rows(rows, heads) {
        out[hf * cols..(hf + 1) * cols].copy_from_slice(&data[gguf * cols..(gguf + 1) * cols]);
    }
    out
}

/// HF q/k rows in llama.cpp's order (the inverse of [`unpermute`]).
pub(crate) fn permute(data: &[f32], rows: usize, cols: usize, heads: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for (gguf, hf) in rope_rows(rows, heads) {
        out[gguf * cols..(gguf + 1) * cols].copy_from_slice(&data[hf * cols..(hf + 1) * cols]);
    }
    out
}

/// Writes `value` as pretty-printed JSON to `dir/name`.
pub(crate) fn write_json(dir: &Path, name: &str, value: &serde_json::Value) -> Result<()> {
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(value).expect("JSON serializes") + "\n";
    std::fs::write(&path, text).map_err(|e| ModelError::Io { path, source: e })
}

/// Copies the files `names` that exist in `from` into `to`.
pub(crate) fn copy_present(from: &Path, to: &Path, names: &[&str]) -> Result<()> {
    for name in names {
        let src = from.join(name);
        if src.exists() {
            std::fs::copy(&src, to.join(name)).map_err(|e| ModelError::Io { path: src, source: e })?;
        }
    }
    Ok(())
}

/// Refuses an existing output directory unless `overwrite`.
pub(crate) fn refuse_existing(out: &Path, overwrite: bool) -> Result<()> {
    if out.exists() && !overwrite {
        return Err(ModelError::Data(slm_data::DataError::Output {
            path: out.to_owned(),
            problem: "already exists; pass --force to replace it".into(),
        }));
    }
    Ok(())
}

/// A temporary directory beside `out` in which a model directory is assembled.
pub(crate) fn staging_dir(out: &Path) -> Result<tempfile::TempDir> {
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| ModelError::Io { path: parent.to_owned(), source: e })?;
    tempfile::Builder::new()
        .prefix(".slm-import-")
        .tempdir_in(parent)
        .map_err(|e| ModelError::Io { path: parent.to_owned(), source: e })
}

/// Moves an assembled model directory into place (replacing `out` if it exists), readable by all as a
/// model directory should be (temporary directories are private).
pub(crate) fn publish(tmp: tempfile::TempDir, out: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(|e| ModelError::Io { path: tmp.path().to_owned(), source: e })?;
    }
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(|e| ModelError::Io { path: out.to_owned(), source: e })?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, out).map_err(|e| ModelError::Io { path: out.to_owned(), source: e })
}

/// Converts a GGUF llama model into an HF model directory at `out`.
///
/// # Errors
/// An unsupported architecture, tensor type or tokenizer; a missing metadata key; an unknown tensor; an
/// existing `out` (unless `overwrite`); a write failure. Nothing is left at `out` on error.
pub fn import_gguf(src: &Path, out: &Path, overwrite: bool) -> Result<ImportSummary> {
    refuse_existing(out, overwrite)?;
    let g = Gguf::open(src)?;
    let arch = g.require("general.architecture")?.as_str().unwrap_or_default().to_owned();
    if arch != "llama" {
        return Err(ModelError::Unsupported {
            path: src.to_owned(),
            what: format!("architecture `{arch}`"),
            supported: "slm imports GGUF files of the llama architecture (Llama, SmolLM, TinyLlama, Mistral)".into(),
        });
    }
    let d = llama_dims(&g)?;
    check_complete(src, &d, &g.tensors)?;
    let tokenizer = to_hf_tokenizer(&g)?;
    let tmp = staging_dir(out)?;

    let mut tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)> = BTreeMap::new();
    let mut parameters = 0u64;
    for t in &g.tensors {
        let (name, heads) = hf_name(&t.name, &d).ok_or_else(|| ModelError::Unsupported {
            path: src.to_owned(),
            what: format!("tensor `{}`", t.name),
            supported: "slm maps llama tensors (token_embd, output_norm, output, blk.N.{attn,ffn}_*)".into(),
        })?;
        let shape = t.shape();
        let mut data = g.to_f32(t)?;
        if let Some(heads) = heads {
            data = unpermute(&data, shape[0], shape.get(1).copied().unwrap_or(1), heads as usize);
        }
        parameters += t.len();
        tensors.insert(name, (shape, data));
    }
    let tied = !tensors.contains_key("lm_head.weight");
    let st_path = tmp.path().join("model.safetensors");
    crate::save::write_safetensors(
        tensors.iter().map(|(n, (shape, data))| (n.as_str(), shape.as_slice(), data.as_slice())),
        &st_path,
    )?;

    let id = |key: &str| g.get(key).and_then(Value::as_u64);
    let token = |key: &str| id(key).and_then(|i| tokenizer.id_to_token(i as u32));
    let (bos, eos, pad) =
        (id("tokenizer.ggml.bos_token_id"), id("tokenizer.ggml.eos_token_id"), id("tokenizer.ggml.padding_token_id"));
    write_json(
        tmp.path(),
        "config.json",
        &json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": d.hidden,
            "intermediate_size": d.ffn,
            "num_hidden_layers": d.layers,
            "num_attention_heads": d.heads,
            "num_key_value_heads": d.kv_heads,
            "head_dim": d.hidden / d.heads,
            "hidden_act": "silu",
            "max_position_embeddings": d.context,
            "rms_norm_eps": d.rms_eps,
            "rope_theta": d.rope_theta,
            "vocab_size": d.vocab,
            "tie_word_embeddings": tied,
            "attention_bias": false,
            "mlp_bias": false,
            "bos_token_id": bos,
            "eos_token_id": eos,
            "pad_token_id": pad,
            "torch_dtype": "float32",
        }),
    )?;
    write_json(
        tmp.path(),
        "generation_config.json",
        &json!({"bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad}),
    )?;
    let chat_template = g.get("tokenizer.chat_template").and_then(Value::as_str);
    write_json(
        tmp.path(),
        "tokenizer_config.json",
        &json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": token("tokenizer.ggml.bos_token_id"),
            "eos_token": token("tokenizer.ggml.eos_token_id"),
            "pad_token": token("tokenizer.ggml.padding_token_id"),
            "unk_token": token("tokenizer.ggml.unknown_token_id"),
            "add_bos_token": g.get("tokenizer.ggml.add_bos_token") == Some(&Value::Bool(true)),
            "model_max_length": d.context,
            "chat_template": chat_template,
        }),
    )?;
    write_json(
        tmp.path(),
        "slm.json",
        &json!({
            "source": {"format": "gguf", "file": src.file_name().map(|n| n.to_string_lossy().into_owned()),
                       "name": g.get("general.name").and_then(Value::as_str), "gguf_version": g.version},
            "chat_template": chat_template,
        }),
    )?;
    let tok_path = tmp.path().join("tokenizer.json");
    tokenizer
        .save(&tok_path, true)
        .map_err(|e| ModelError::format(&tok_path, format!("cannot write the tokenizer: {e}")))?;

    publish(tmp, out)?;
    Ok(ImportSummary {
        out: out.to_owned(),
        architecture: "LlamaForCausalLM".into(),
        parameters,
        tensors: tensors.len(),
    })
}

/// Every layer must have its nine tensors, and the embedding must be there.
fn check_complete(src: &Path, d: &LlamaDims, tensors: &[TensorInfo]) -> Result<()> {
    let names: std::collections::HashSet<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    let mut needed = vec!["token_embd.weight".to_owned(), "output_norm.weight".to_owned()];
    for l in 0..d.layers {
        for part in LAYER_PARTS {
            needed.push(format!("blk.{l}.{part}.weight"));
        }
    }
    match needed.iter().find(|n| !names.contains(n.as_str())) {
        Some(missing) => Err(ModelError::format(src, format!("tensor `{missing}` is missing"))),
        None => Ok(()),
    }
}

/// The bytes of an f32 slice (little-endian machines only, as safetensors stores little-endian).
pub(crate) fn bytemuck_f32(data: &[f32]) -> &[u8] {
    const { assert!(cfg!(target_endian = "little"), "safetensors stores little-endian data") };
    // SAFETY: f32 has no padding and any byte pattern is a valid u8; the length covers the same memory.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(data)) }
}

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
    let model = crate::transformer::Transformer::load(src, &device)?;
    let architecture = model.config.to_hf()["architectures"][0].as_str().unwrap_or_default().to_owned();
    let tok = src.join("tokenizer.json");
    tokenizers::Tokenizer::from_file(&tok)
        .map_err(|e| ModelError::format(&tok, format!("not a valid tokenizer: {e}")))?;
    let tmp = staging_dir(out)?;
    if src.join("model.safetensors.index.json").is_file() {
        // Shards are merged into one f32 model.safetensors.
        let mut model = model;
        let tensors = crate::save::hf_tensors(&mut model);
        let path = tmp.path().join("model.safetensors");
        crate::save::write_safetensors(
            tensors.iter().map(|(n, s, v)| (n.as_str(), s.as_slice(), v.as_slice())),
            &path,
        )?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermute_inverts_llama_cpp_permutation() {
        // 2 heads of head_dim 4, 1 column: HF rows 0..8; llama.cpp order per head is [0, 2, 1, 3].
        let hf: Vec<f32> = (0..8).map(|x| x as f32).collect();
        let gguf = vec![0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0];
        assert_eq!(unpermute(&gguf, 8, 1, 2), hf);
    }
}
