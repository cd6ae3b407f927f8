//! LoRA (Hu et al., 2021): a frozen linear map `x·W` gains a trainable low-rank update
//! `scale · dropout(x)·A·B` with `A [in, r]`, `B [r, out]` and `scale = alpha / r`. Adapters are kept in
//! PEFT's layout so that Python's `peft` loads them: `adapter_config.json` and
//! `adapter_model.safetensors` with tensors `base_model.model.<module>.lora_A.weight` `[r, in]` and
//! `...lora_B.weight` `[out, r]` (PEFT's `nn.Linear` shapes, whatever the base layer's layout).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::module::linear;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{ModelError, Result};
use crate::hf::{copy_present, publish, refuse_existing, staging_dir};
use crate::layers::ParamMut;
use crate::save::{host_tensors, write_safetensors};
use crate::transformer::{Transformer, transpose};
use crate::weights::Weights;

/// File of an adapter's configuration.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// File of an adapter's matrices.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";

/// Which linear layers get adapters, and their shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank r of the update.
    #[serde(default = "default_rank")]
    pub rank: usize,
    /// The update is scaled by alpha / r.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Dropout on the adapter's input during training.
    #[serde(default)]
    pub dropout: f64,
    /// Module names by PEFT's rule (`q_proj` matches `model.layers.0.self_attn.q_proj`), or
    /// `all-linear` (every linear layer of the blocks; never the LM head).
    #[serde(default = "default_targets")]
    pub targets: Vec<String>,
    /// Start from this adapter directory instead of fresh adapters.
    pub from: Option<PathBuf>,
}

fn default_rank() -> usize {
    8
}
fn default_alpha() -> f64 {
    16.0
}
fn default_targets() -> Vec<String> {
    vec!["q_proj".into(), "v_proj".into()]
}

impl LoraConfig {
    /// Checks the values; the error names the key.
    ///
    /// # Errors
    /// A zero rank, a non-positive alpha, a dropout outside [0, 1), no targets.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.rank == 0 {
            return Err("lora.rank must be > 0, got 0".into());
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return Err(format!("lora.alpha must be > 0, got {}", self.alpha));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("lora.dropout must be in [0, 1), got {}", self.dropout));
        }
        if self.targets.is_empty() {
            return Err("lora.targets must name at least one module (or \"all-linear\")".into());
        }
        Ok(())
    }

    /// alpha / r.
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }

    /// Whether PEFT's rule selects the linear module `name`: it equals a target or ends in `.target`;
    /// `all-linear` selects every module it is asked about (callers never ask about the LM head).
    pub fn selects(&self, name: &str) -> bool {
        self.targets.iter().any(|t| t == "all-linear" || name == t || name.ends_with(&format!(".{t}")))
    }
}

/// The adapter of one linear layer.
#[derive(Debug, Clone)]
pub struct Lora {
    /// `[in, r]`.
    pub a: Tensor<2>,
    /// `[r, out]`.
    pub b: Tensor<2>,
    /// alpha / r.
    pub scale: f64,
    /// Dropout probability on the input.
    pub dropout: f64,
    /// Whether dropout applies (training); evaluation and generation turn it off.
    pub training: bool,
    /// Seed of the dropout mask of the next forward pass (the trainer sets it per micro-batch, so that a
    /// run and its resume draw the same masks whatever else runs in the process).
    pub seed: u64,
}

impl Lora {
    /// `scale · dropout(x)·A·B` over the last dimension of `x`.
    pub fn delta<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let x = if self.training && self.dropout > 0.0 {
            let shape = x.shape();
            let mask = dropout_mask(self.seed, shape.num_elements(), 1.0 - self.dropout);
            let mask = Tensor::from_data(TensorData::new(mask, shape), &x.device());
            x.mul(mask)
        } else {
            x
        };
        linear(linear(x, self.a.clone(), None), self.b.clone(), None).mul_scalar(self.scale)
    }

    /// The update as one matrix `[in, out]`, to fold into the base weight.
    pub fn merged(&self) -> Tensor<2> {
        self.a.clone().matmul(self.b.clone()).mul_scalar(self.scale)
    }
}

/// An inverted-dropout mask of `n` values: `1 / keep` with probability `keep`, else 0, from a counter-based
/// hash of (seed, index) (SplitMix64), so any slice of it is reproducible without generator state.
fn dropout_mask(seed: u64, n: usize, keep: f64) -> Vec<f32> {
    let threshold = (keep * u64::MAX as f64) as u64;
    let kept = (1.0 / keep) as f32;
    (0..n as u64)
        .map(|i| {
            let mut z = seed.wrapping_add(i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            if z ^ (z >> 31) < threshold { kept } else { 0.0 }
        })
        .collect()
}

/// PEFT's tensor name of adapter matrix `which` (`A` or `B`) of `module`.
pub fn peft_name(module: &str, which: char) -> String {
    format!("base_model.model.{module}.lora_{which}.weight")
}

/// Writes `adapter_config.json` for adapters on `modules` of the base model at `base`.
///
/// # Errors
/// The file cannot be written.
pub fn write_config(dir: &Path, cfg: &LoraConfig, base: &Path, modules: &[String], conv1d: bool) -> Result<()> {
    // PEFT lists the module names' last parts.
    let mut targets: Vec<&str> = modules.iter().map(|m| m.rsplit('.').next().unwrap_or(m)).collect();
    targets.sort_unstable();
    targets.dedup();
    let config = json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base.display().to_string(),
        "r": cfg.rank,
        "lora_alpha": cfg.alpha,
        "lora_dropout": cfg.dropout,
        "target_modules": targets,
        "fan_in_fan_out": conv1d,
        "bias": "none",
        "use_rslora": false,
        "use_dora": false,
        "init_lora_weights": true,
        "inference_mode": true,
        "modules_to_save": null,
    });
    crate::hf::write_json(dir, ADAPTER_CONFIG, &config)
}

/// The adapter configuration of `dir` and the directory of its base model (relative paths are taken
/// from the adapter directory first, then from the working directory).
///
/// # Errors
/// A missing or malformed `adapter_config.json`, or a PEFT method other than LoRA.
pub fn read_config(dir: &Path) -> Result<(LoraConfig, PathBuf)> {
    let path = dir.join(ADAPTER_CONFIG);
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Io { path: path.clone(), source: e })?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ModelError::format(&path, format!("not valid JSON: {e}")))?;
    let kind = v["peft_type"].as_str().unwrap_or("LORA");
    if kind != "LORA" {
        return Err(ModelError::Unsupported {
            path,
            what: format!("PEFT method {kind}"),
            supported: "slm reads LoRA adapters".into(),
        });
    }
    for (flag, what) in [("use_rslora", "rank-stabilised LoRA"), ("use_dora", "DoRA")] {
        if v[flag].as_bool() == Some(true) {
            return Err(ModelError::Unsupported { path, what: what.into(), supported: "slm reads plain LoRA".into() });
        }
    }
    let field = |key: &str| v.get(key).ok_or_else(|| ModelError::format(&path, format!("`{key}` is missing")));
    let rank = field("r")?.as_u64().ok_or_else(|| ModelError::format(&path, "`r` must be an integer"))? as usize;
    let alpha =
        field("lora_alpha")?.as_f64().ok_or_else(|| ModelError::format(&path, "`lora_alpha` must be a number"))?;
    let targets = match &v["target_modules"] {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    let base = field("base_model_name_or_path")?
        .as_str()
        .ok_or_else(|| ModelError::format(&path, "`base_model_name_or_path` must be a string"))?;
    let base = PathBuf::from(base);
    let base = if base.is_relative() && dir.join(&base).join("config.json").is_file() { dir.join(base) } else { base };
    let cfg = LoraConfig { rank, alpha, dropout: v["lora_dropout"].as_f64().unwrap_or(0.0), targets, from: None };
    Ok((cfg, base))
}

/// Whether `dir` holds a LoRA adapter rather than a whole model.
pub fn is_adapter(dir: &Path) -> bool {
    dir.join(ADAPTER_CONFIG).is_file() && !dir.join("config.json").is_file()
}

impl Transformer {
    /// Attaches fresh adapters to the linear layers `cfg` selects, as PEFT initialises them: A uniform in
    /// ±1/sqrt(in) (kaiming-uniform with a = sqrt(5)) from a generator seeded by `seed`, B zero (so the model
    /// starts unchanged). Returns the names of the adapted modules.
    ///
    /// # Errors
    /// The targets select no module (the message lists the model's module kinds).
    pub fn attach_lora(&mut self, cfg: &LoraConfig, seed: u64) -> Result<Vec<String>> {
        use rand::{RngExt, SeedableRng};
        let device = self.device().clone();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (mut adapted, mut kinds) = (Vec::new(), std::collections::BTreeSet::new());
        for l in self.linears_mut() {
            kinds.insert(l.name.rsplit('.').next().unwrap_or(&l.name).to_owned());
            if !cfg.selects(&l.name) {
                continue;
            }
            let (d_in, d_out, r) = (l.d_in(), l.d_out(), cfg.rank);
            let bound = 1.0 / (d_in as f64).sqrt();
            let a: Vec<f32> = (0..d_in * r).map(|_| rng.random_range(-bound..bound) as f32).collect();
            l.lora = Some(Lora {
                a: Tensor::from_data(TensorData::new(a, [d_in, r]), &device),
                b: Tensor::zeros([r, d_out], &device),
                scale: cfg.scale(),
                dropout: cfg.dropout,
                training: true,
                seed: 0,
            });
            adapted.push(l.name.clone());
        }
        if adapted.is_empty() {
            let kinds: Vec<String> = kinds.into_iter().collect();
            return Err(ModelError::format(
                "lora.targets",
                format!(
                    "{:?} selects none of the model's linear modules; they are {} (or use \"all-linear\")",
                    cfg.targets,
                    kinds.join(", ")
                ),
            ));
        }
        self.lora = Some(cfg.clone());
        Ok(adapted)
    }

    /// Attaches the adapters of the PEFT adapter directory `dir` (dropout off until the trainer turns it on).
    ///
    /// # Errors
    /// A missing or malformed file, an adapter matrix of the wrong shape, or no adapter for this model.
    pub fn load_lora(&mut self, dir: &Path) -> Result<LoraConfig> {
        let (cfg, _) = read_config(dir)?;
        let weights = Weights::open(&dir.join(ADAPTER_WEIGHTS))?;
        let device = self.device().clone();
        let mut found = 0;
        for l in self.linears_mut() {
            let Some((shape_a, a)) = weights.raw(&peft_name(&l.name, 'A'))? else { continue };
            let name_b = peft_name(&l.name, 'B');
            let (shape_b, b) =
                weights.raw(&name_b)?.ok_or_else(|| weights.error(format!("tensor `{name_b}` is missing")))?;
            let (d_in, d_out, r) = (l.d_in(), l.d_out(), cfg.rank);
            if shape_a != [r, d_in] || shape_b != [d_out, r] {
                return Err(weights.error(format!(
                    "the adapter of `{}` has shapes {shape_a:?} and {shape_b:?}, expected [{r}, {d_in}] and [{d_out}, {r}]",
                    l.name
                )));
            }
            l.lora = Some(Lora {
                a: Tensor::from_data(TensorData::new(transpose(&a, r, d_in), [d_in, r]), &device),
                b: Tensor::from_data(TensorData::new(transpose(&b, d_out, r), [r, d_out]), &device),
                scale: cfg.scale(),
                dropout: cfg.dropout,
                training: false,
                seed: 0,
            });
            found += 1;
        }
        if found == 0 {
            return Err(weights.error("holds no adapter for any linear module of this model".into()));
        }
        self.lora = Some(cfg.clone());
        Ok(cfg)
    }

    /// The parameters training updates: the adapters' matrices when adapters are attached (the base stays
    /// frozen: no gradient, no optimizer state), otherwise every parameter.
    pub fn trainable(&mut self) -> Vec<ParamMut<'_>> {
        if self.lora.is_none() {
            return self.params();
        }
        let mut out = Vec::new();
        for l in self.linears_mut() {
            l.lora_params(&mut out);
        }
        out
    }

    /// Turns adapter dropout on (training) or off.
    pub fn set_training(&mut self, on: bool) {
        for l in self.linears_mut() {
            if let Some(lora) = &mut l.lora {
                lora.training = on;
            }
        }
    }

    /// Seeds the dropout masks of the next forward pass: module i draws from `seed` mixed with i.
    pub fn seed_dropout(&mut self, seed: u64) {
        for (i, l) in self.linears_mut().into_iter().enumerate() {
            if let Some(lora) = &mut l.lora {
                lora.seed = seed ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
            }
        }
    }

    /// Folds every adapter into its base weight (`W + scale·A·B`) and detaches it: the same function, one
    /// matrix product per layer.
    pub fn merge_lora(&mut self) {
        for l in self.linears_mut() {
            if let Some(lora) = l.lora.take() {
                l.weight = l.weight.clone().add(lora.merged());
            }
        }
        self.lora = None;
    }

    /// Names of the modules that carry adapters.
    pub fn adapted_modules(&mut self) -> Vec<String> {
        self.linears_mut().into_iter().filter(|l| l.lora.is_some()).map(|l| l.name.clone()).collect()
    }
}

/// Writes the adapters of `model` (trained on the base model at `base`) as a PEFT adapter directory at
/// `out`, with the tokenizer files of `tokenizer_dir` beside them so that slm's commands take the directory
/// as a model. Assembled beside `out` and renamed into place.
///
/// # Errors
/// The model has no adapters, `out` exists and `overwrite` is false, or a write fails.
pub fn save_adapter(
    model: &mut Transformer,
    out: &Path,
    base: &Path,
    tokenizer_dir: &Path,
    overwrite: bool,
) -> Result<()> {
    refuse_existing(out, overwrite)?;
    let tmp = staging_dir(out)?;
    write_adapter_files(model, tmp.path(), base)?;
    copy_present(tokenizer_dir, tmp.path(), &["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"])?;
    publish(tmp, out)
}

/// Writes `adapter_config.json` and `adapter_model.safetensors` of `model` into the existing directory `dir`.
///
/// # Errors
/// The model has no adapters, or a write fails.
pub fn write_adapter_files(model: &mut Transformer, dir: &Path, base: &Path) -> Result<()> {
    let cfg = model.lora.clone().ok_or_else(|| ModelError::format(dir, "the model has no LoRA adapters to save"))?;
    let modules = model.adapted_modules();
    let conv1d = model.config.family == crate::Family::Gpt2;
    let tensors = host_tensors(model.trainable());
    write_safetensors(
        tensors.iter().map(|(n, s, v)| (n.as_str(), s.as_slice(), v.as_slice())),
        &dir.join(ADAPTER_WEIGHTS),
    )?;
    let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_owned());
    write_config(dir, &cfg, &base, &modules, conv1d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(targets: &[&str]) -> LoraConfig {
        LoraConfig {
            rank: 4,
            alpha: 8.0,
            dropout: 0.0,
            targets: targets.iter().map(|t| t.to_string()).collect(),
            from: None,
        }
    }

    #[test]
    fn targets_follow_peft_suffix_rule() {
        let c = cfg(&["q_proj", "v_proj"]);
        assert!(c.selects("model.layers.0.self_attn.q_proj"));
        assert!(!c.selects("model.layers.0.self_attn.k_proj"));
        // A suffix of a name part is not a match: `proj` does not select `q_proj`.
        assert!(!cfg(&["proj"]).selects("model.layers.0.self_attn.q_proj"));
        assert!(cfg(&["self_attn.q_proj"]).selects("model.layers.0.self_attn.q_proj"));
        assert!(cfg(&["all-linear"]).selects("transformer.h.1.mlp.c_fc"));
        assert_eq!(c.scale(), 2.0);
    }

    #[test]
    fn dropout_masks_keep_the_expected_share_and_repeat() {
        let m = dropout_mask(7, 100_000, 0.9);
        let kept = m.iter().filter(|&&v| v > 0.0).count() as f64 / m.len() as f64;
        assert!((kept - 0.9).abs() < 0.005, "{kept}");
        assert!(m.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.9).abs() < 1e-6));
        assert_eq!(m, dropout_mask(7, 100_000, 0.9));
        assert_ne!(m, dropout_mask(8, 100_000, 0.9));
    }

    #[test]
    fn bad_values_name_the_key() {
        let mut c = cfg(&["q_proj"]);
        c.dropout = 1.0;
        assert!(c.check().unwrap_err().starts_with("lora.dropout"));
        c.dropout = 0.0;
        c.rank = 0;
        assert!(c.check().unwrap_err().starts_with("lora.rank"));
    }
}
