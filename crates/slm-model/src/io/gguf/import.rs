//! `slm import` of a GGUF file: a Hugging Face model directory with `config.json` (HF keys),
//! `model.safetensors` (HF tensor names, f32), `tokenizer.json`, `tokenizer_config.json` (special tokens
//! and chat template), `generation_config.json`, and `slm.json` (where the weights came from). The
//! llama.cpp names and the rotary row order map to HF's here, in both directions (export uses them too).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use super::{Gguf, TensorInfo, Value, to_hf_tokenizer};
use crate::error::{ModelError, Result};
use crate::io::ImportSummary;
use crate::io::model_dir::{publish, refuse_existing, staging_dir, write_json};
use crate::io::safetensors::write_safetensors;

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
    write_safetensors(
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
