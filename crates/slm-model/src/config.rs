//! One configuration type for both model families, read from and written to a Hugging Face `config.json`
//! (`model_type` "gpt2", or "llama"/"mistral"/"qwen2" for the Llama family). The HF keys differ per
//! family (`n_embd` vs `hidden_size`); inside slm there is one set of names.

use std::path::Path;

use serde_json::{Value, json};

use crate::error::{ModelError, Result};

/// Which building blocks a model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// GPT-2: learned positions, LayerNorm with bias, GELU (tanh) MLP, fused QKV with biases, tied head.
    Gpt2,
    /// Llama: rotary positions, RMSNorm, SwiGLU MLP, grouped-query attention, optional QKV bias.
    Llama,
}

/// Which head sits on top of the Transformer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Head {
    /// Next-token prediction with causal attention (`*ForCausalLM`).
    CausalLm,
    /// Masked-token prediction with bidirectional attention (masked-LM pretraining, encoder-style).
    MaskedLm,
    /// One label per sequence from the last real token's hidden state (`*ForSequenceClassification`).
    Classification,
}

/// Hyper-parameters of a Transformer.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Building blocks.
    pub family: Family,
    /// Output head.
    pub head: Head,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width of the residual stream (d_model).
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Number of blocks.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (fewer than query heads: grouped-query attention).
    pub num_kv_heads: usize,
    /// Longest context.
    pub max_positions: usize,
    /// Epsilon of the normalisation layers.
    pub norm_eps: f64,
    /// RoPE base (Llama family).
    pub rope_theta: f64,
    /// The LM head reuses the token embedding matrix.
    pub tie_word_embeddings: bool,
    /// Biases on the q/k/v projections (GPT-2 always; Qwen2-style Llamas).
    pub attention_bias: bool,
    /// Phi-3's layout of a Llama-family model: one `qkv_proj` and one `gate_up_proj` matrix.
    pub fused_projections: bool,
    /// Class names of a classification head, by class id (HF's `id2label`).
    pub labels: Vec<String>,
}

impl Config {
    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }

    /// Reads `dir/config.json`.
    ///
    /// # Errors
    /// The file is missing, not JSON, of an unsupported `model_type`, or lacks a key.
    pub fn load(dir: &Path) -> Result<Config> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Io { path: path.clone(), source: e })?;
        let value: Value =
            serde_json::from_str(&text).map_err(|e| ModelError::format(&path, format!("not JSON: {e}")))?;
        Config::from_hf(&value).map_err(|problem| ModelError::format(&path, problem))
    }

    /// Reads an HF config object; the error is a sentence naming the key.
    ///
    /// # Errors
    /// An unsupported `model_type`, a missing key or an inconsistent shape.
    pub fn from_hf(v: &Value) -> std::result::Result<Config, String> {
        let model_type = v["model_type"].as_str().unwrap_or_default();
        let family = match model_type {
            "gpt2" => Family::Gpt2,
            "llama" | "mistral" | "qwen2" | "phi3" => Family::Llama,
            other => {
                return Err(format!("model_type `{other}` is not supported (gpt2, llama, mistral, qwen2, phi3 are)"));
            }
        };
        let int = |key: &str| -> std::result::Result<usize, String> {
            v[key].as_u64().map(|x| x as usize).ok_or_else(|| format!("the key `{key}` is missing or not an integer"))
        };
        let float = |key: &str, default: f64| v[key].as_f64().unwrap_or(default);
        let head = head_of(v);
        let labels = labels_of(v);
        let config = match family {
            Family::Gpt2 => {
                let hidden = int("n_embd")?;
                Config {
                    family,
                    head,
                    vocab_size: int("vocab_size")?,
                    hidden_size: hidden,
                    intermediate_size: v["n_inner"].as_u64().map_or(4 * hidden, |x| x as usize),
                    num_layers: int("n_layer")?,
                    num_heads: int("n_head")?,
                    num_kv_heads: int("n_head")?,
                    max_positions: int("n_positions")?,
                    norm_eps: float("layer_norm_epsilon", 1e-5),
                    rope_theta: 0.0,
                    tie_word_embeddings: v["tie_word_embeddings"].as_bool().unwrap_or(true),
                    attention_bias: true,
                    fused_projections: false,
                    labels: labels.clone(),
                }
            }
            Family::Llama => {
                let heads = int("num_attention_heads")?;
                Config {
                    family,
                    head,
                    vocab_size: int("vocab_size")?,
                    hidden_size: int("hidden_size")?,
                    intermediate_size: int("intermediate_size")?,
                    num_layers: int("num_hidden_layers")?,
                    num_heads: heads,
                    num_kv_heads: v["num_key_value_heads"].as_u64().map_or(heads, |x| x as usize),
                    max_positions: v["max_position_embeddings"].as_u64().map_or(2048, |x| x as usize),
                    norm_eps: float("rms_norm_eps", 1e-6),
                    rope_theta: rope_theta(v)?,
                    tie_word_embeddings: v["tie_word_embeddings"].as_bool().unwrap_or(false),
                    // Qwen2's biases sit on q/k/v only; Llama's `attention_bias` also biases o_proj.
                    attention_bias: match (model_type, v["attention_bias"].as_bool()) {
                        ("qwen2", _) => true,
                        (_, Some(true)) => {
                            return Err("attention_bias (a bias on o_proj too) is not supported for llama models; \
                                        q/k/v biases are, as model_type qwen2"
                                .into());
                        }
                        _ => false,
                    },
                    fused_projections: model_type == "phi3",
                    labels: labels.clone(),
                }
            }
        };
        config.check()?;
        Ok(config)
    }

    /// Shapes that cannot work, as a sentence.
    ///
    /// # Errors
    /// Zero sizes, a width not divisible by the heads, query heads not a multiple of key/value heads.
    pub fn check(&self) -> std::result::Result<(), String> {
        let sizes = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_layers", self.num_layers),
            ("num_heads", self.num_heads),
            ("num_kv_heads", self.num_kv_heads),
            ("max_positions", self.max_positions),
        ];
        if let Some((key, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{key} must be > 0"));
        }
        if !self.hidden_size.is_multiple_of(self.num_heads) {
            return Err(format!("hidden_size {} is not divisible by num_heads {}", self.hidden_size, self.num_heads));
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return Err(format!(
                "num_heads {} is not a multiple of num_kv_heads {}",
                self.num_heads, self.num_kv_heads
            ));
        }
        if self.fused_projections && (self.family != Family::Llama || self.attention_bias) {
            return Err(
                "fused q/k/v and gate/up projections (phi3) exist only for the llama family without biases".into()
            );
        }
        if self.family == Family::Gpt2 && self.num_kv_heads != self.num_heads {
            return Err(format!(
                "the gpt2 family has no grouped-query attention: num_kv_heads ({}) must equal num_heads ({})",
                self.num_kv_heads, self.num_heads
            ));
        }
        if self.family == Family::Llama && !self.head_dim().is_multiple_of(2) {
            return Err(format!("rotary positions need an even head size, got {}", self.head_dim()));
        }
        Ok(())
    }

    /// The HF `config.json` object for this configuration (what `transformers` reads back).
    pub fn to_hf(&self) -> Value {
        let arch = match (self.family, self.head) {
            (Family::Gpt2, Head::CausalLm) => "GPT2LMHeadModel",
            (Family::Gpt2, Head::Classification) => "GPT2ForSequenceClassification",
            (Family::Gpt2, Head::MaskedLm) => "GPT2LMHeadModel",
            (Family::Llama, Head::Classification) if self.fused_projections => "Phi3ForSequenceClassification",
            (Family::Llama, _) if self.fused_projections => "Phi3ForCausalLM",
            (Family::Llama, Head::Classification) if self.attention_bias => "Qwen2ForSequenceClassification",
            (Family::Llama, _) if self.attention_bias => "Qwen2ForCausalLM",
            (Family::Llama, Head::Classification) => "LlamaForSequenceClassification",
            (Family::Llama, _) => "LlamaForCausalLM",
        };
        let mut v = match self.family {
            Family::Gpt2 => json!({
                "model_type": "gpt2",
                "vocab_size": self.vocab_size,
                "n_embd": self.hidden_size,
                "n_inner": self.intermediate_size,
                "n_layer": self.num_layers,
                "n_head": self.num_heads,
                "n_positions": self.max_positions,
                "n_ctx": self.max_positions,
                "layer_norm_epsilon": self.norm_eps,
                "activation_function": "gelu_new",
                "tie_word_embeddings": self.tie_word_embeddings,
                "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
            }),
            Family::Llama => json!({
                "model_type": "llama",
                "vocab_size": self.vocab_size,
                "hidden_size": self.hidden_size,
                "intermediate_size": self.intermediate_size,
                "num_hidden_layers": self.num_layers,
                "num_attention_heads": self.num_heads,
                "num_key_value_heads": self.num_kv_heads,
                "max_position_embeddings": self.max_positions,
                "rms_norm_eps": self.norm_eps,
                "rope_theta": self.rope_theta,
                "tie_word_embeddings": self.tie_word_embeddings,
                "attention_bias": false,
                "mlp_bias": false,
                "hidden_act": "silu",
            }),
        };
        if self.fused_projections {
            v["model_type"] = json!("phi3");
            v["original_max_position_embeddings"] = json!(self.max_positions);
            let o = v.as_object_mut().expect("an object");
            o.remove("attention_bias");
            o.remove("mlp_bias");
        }
        if self.family == Family::Llama && self.attention_bias {
            // A Llama with q/k/v biases is a Qwen2.
            v["model_type"] = json!("qwen2");
            v.as_object_mut().expect("an object").remove("attention_bias");
        }
        v["architectures"] = json!([arch]);
        v["torch_dtype"] = json!("float32");
        if self.head == Head::Classification {
            let id2label: serde_json::Map<String, Value> =
                self.labels.iter().enumerate().map(|(i, l)| (i.to_string(), json!(l))).collect();
            let label2id: serde_json::Map<String, Value> =
                self.labels.iter().enumerate().map(|(i, l)| (l.clone(), json!(i))).collect();
            v["id2label"] = Value::Object(id2label);
            v["label2id"] = Value::Object(label2id);
        }
        if self.head == Head::MaskedLm {
            v["slm_head"] = json!("masked-lm");
        }
        v
    }
}

/// RoPE's base: `rope_theta`, or `rope_parameters.rope_theta` (transformers 5); scaled variants (llama3,
/// yarn, longrope, ...) are refused rather than run wrongly.
fn rope_theta(v: &Value) -> std::result::Result<f64, String> {
    let params = &v["rope_parameters"];
    let scaling = params["rope_type"].as_str().or(v["rope_scaling"]["rope_type"].as_str()).unwrap_or("default");
    if scaling != "default" {
        return Err(format!("rope_type `{scaling}` is not supported (only the default rotary embedding is)"));
    }
    let partial = params["partial_rotary_factor"].as_f64().or(v["partial_rotary_factor"].as_f64()).unwrap_or(1.0);
    if partial != 1.0 {
        return Err(format!("partial_rotary_factor {partial} is not supported (only rotation of the whole head is)"));
    }
    Ok(params["rope_theta"].as_f64().or(v["rope_theta"].as_f64()).unwrap_or(10_000.0))
}

/// `id2label` as a list by id (HF's default two classes when absent).
fn labels_of(v: &Value) -> Vec<String> {
    let mut pairs: Vec<(u64, String)> = v["id2label"]
        .as_object()
        .map(|m| m.iter().filter_map(|(k, l)| Some((k.parse().ok()?, l.as_str()?.to_owned()))).collect())
        .unwrap_or_default();
    pairs.sort();
    if pairs.is_empty() { vec!["LABEL_0".into(), "LABEL_1".into()] } else { pairs.into_iter().map(|p| p.1).collect() }
}

/// The head named by `architectures` (or slm's own `slm_head` key for the masked-LM head).
fn head_of(v: &Value) -> Head {
    if v["slm_head"].as_str() == Some("masked-lm") {
        return Head::MaskedLm;
    }
    let arch = v["architectures"][0].as_str().unwrap_or_default();
    if arch.ends_with("ForSequenceClassification") { Head::Classification } else { Head::CausalLm }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(family: Family) -> Config {
        Config {
            family,
            head: Head::CausalLm,
            vocab_size: 50,
            hidden_size: 16,
            intermediate_size: 40,
            num_layers: 2,
            num_heads: 4,
            num_kv_heads: if family == Family::Llama { 2 } else { 4 },
            max_positions: 32,
            norm_eps: 1e-5,
            rope_theta: if family == Family::Llama { 10_000.0 } else { 0.0 },
            tie_word_embeddings: true,
            attention_bias: family == Family::Gpt2,
            fused_projections: false,
            labels: vec!["LABEL_0".into(), "LABEL_1".into()],
        }
    }

    #[test]
    fn hf_json_round_trips_for_both_families() {
        for family in [Family::Gpt2, Family::Llama] {
            let c = tiny(family);
            assert_eq!(Config::from_hf(&c.to_hf()).unwrap(), c);
        }
    }

    #[test]
    fn llama_variants_keep_their_model_type() {
        let mut c = tiny(Family::Llama);
        c.attention_bias = true;
        let v = c.to_hf();
        assert_eq!(v["model_type"], "qwen2");
        assert_eq!(v["architectures"][0], "Qwen2ForCausalLM");
        assert_eq!(Config::from_hf(&v).unwrap(), c);
        let mut phi3 = tiny(Family::Llama);
        phi3.fused_projections = true;
        assert_eq!(phi3.to_hf()["model_type"], "phi3");
        assert_eq!(Config::from_hf(&phi3.to_hf()).unwrap(), phi3);
        let mut llama = tiny(Family::Llama).to_hf();
        llama["attention_bias"] = json!(true);
        assert!(Config::from_hf(&llama).unwrap_err().contains("o_proj"));
    }

    #[test]
    fn a_missing_key_is_named() {
        let mut v = tiny(Family::Llama).to_hf();
        v.as_object_mut().unwrap().remove("hidden_size");
        assert_eq!(Config::from_hf(&v).unwrap_err(), "the key `hidden_size` is missing or not an integer");
    }

    #[test]
    fn inconsistent_heads_are_refused() {
        let mut c = tiny(Family::Llama);
        c.num_kv_heads = 3;
        assert!(c.check().unwrap_err().contains("not a multiple of num_kv_heads 3"));
    }
}
