//! LoRA adapter directories in PEFT's layout, so that Python's `peft` loads what slm writes and slm loads
//! what PEFT writes: `adapter_config.json` and `adapter_model.safetensors` with tensors
//! `base_model.model.<module>.lora_A.weight` `[r, in]` and `...lora_B.weight` `[out, r]` (PEFT's
//! `nn.Linear` shapes, whatever the base layer's layout).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde_json::json;

use super::model_dir::{copy_present, publish, refuse_existing, staging_dir, write_json};
use super::safetensors::{Weights, host_tensors, write_safetensors};
use crate::error::{ModelError, Result};
use crate::nn::lora::peft_name;
use crate::nn::{Lora, LoraConfig};
use crate::transformer::{Transformer, transpose};

/// File of an adapter's configuration.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// File of an adapter's matrices.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";

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
    write_json(dir, ADAPTER_CONFIG, &config)
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
