//! Checkpoints: `RUN/checkpoints/step-NNNNNNNN/` holds the model (`model.safetensors`, HF names; under LoRA
//! the adapters alone, `adapter_model.safetensors` and `adapter_config.json`), the
//! optimizer moments (`optimizer.safetensors`), and `state.json` (step, data cursor, optimizer steps,
//! best validation loss, elapsed time). All RNG streams are derived from the seed and these counters, so
//! nothing else is needed to continue bit for bit. A checkpoint is assembled under a temporary name and
//! renamed into place: a kill at any moment leaves the previous one valid.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use slm_model::Transformer;
use slm_model::io::hf::hf_tensors;
use slm_model::io::safetensors::Weights;
use slm_model::io::safetensors::write_safetensors;

use crate::error::{Result, TrainError};
use crate::optim::{AdamW, Moments};

/// Where a run stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Optimizer steps done.
    pub step: u64,
    /// Epoch of the next example.
    pub epoch: u64,
    /// Position of the next example in its epoch's order.
    pub position: usize,
    /// Best value so far of `eval.metric`, oriented so that higher is better (the negated loss).
    pub best_val: Option<f64>,
    /// Evaluations since the best one.
    pub stale_evals: usize,
    /// Seconds of training before this process.
    pub elapsed_s: f64,
    /// Shards each batch was cut into (see `train.shards`); a resume keeps it, so that the micro-batches,
    /// and so the losses, are the same bit for bit whatever the thread count of the resuming machine.
    #[serde(default)]
    pub shards: Option<usize>,
}

fn dir_name(step: u64) -> String {
    format!("step-{step:08}")
}

/// Checkpoint directories of a run, oldest first.
pub fn list(run: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(run.join("checkpoints"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("step-")))
        .filter(|p| p.join("state.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Saves a checkpoint and keeps the newest `keep`. A model with LoRA adapters on the base model `base`
/// saves its adapters only.
///
/// # Errors
/// A write fails.
pub fn save(
    run: &Path,
    model: &mut Transformer,
    base: Option<&Path>,
    opt: &AdamW,
    state: &State,
    keep: usize,
) -> Result<()> {
    let root = run.join("checkpoints");
    std::fs::create_dir_all(&root).map_err(|e| TrainError::io(&root, e))?;
    // A process killed while writing leaves its temporary directory behind: this process is the run's
    // only writer, so any such directory is garbage.
    for entry in std::fs::read_dir(&root).map_err(|e| TrainError::io(&root, e))?.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".tmp-") {
            std::fs::remove_dir_all(entry.path()).map_err(|e| TrainError::io(entry.path(), e))?;
        }
    }
    let tmp = tempfile::Builder::new().prefix(".tmp-").tempdir_in(&root).map_err(|e| TrainError::io(&root, e))?;
    match base {
        // Under LoRA the checkpoint holds the adapters only (it is itself a PEFT adapter directory).
        Some(base) if model.lora.is_some() => slm_model::io::peft::write_adapter_files(model, tmp.path(), base)?,
        _ => {
            let tensors = hf_tensors(model);
            write_safetensors(
                tensors.iter().map(|(n, s, v)| (n.as_str(), s.as_slice(), v.as_slice())),
                &tmp.path().join("model.safetensors"),
            )?;
        }
    }
    let moments: Vec<(String, Vec<usize>, Vec<f32>)> = opt
        .state
        .iter()
        .flat_map(|(name, m)| {
            [("m", &m.m), ("v", &m.v)].map(|(k, t)| {
                let values: Vec<f32> = t.clone().into_data().convert::<f32>().try_into_vec().expect("f32");
                (format!("{k}/{name}"), vec![values.len()], values)
            })
        })
        .collect();
    write_safetensors(
        moments.iter().map(|(n, s, v)| (n.as_str(), s.as_slice(), v.as_slice())),
        &tmp.path().join("optimizer.safetensors"),
    )?;
    let json = serde_json::json!({"state": state, "optimizer_steps": opt.steps});
    let state_path = tmp.path().join("state.json");
    std::fs::write(&state_path, serde_json::to_string_pretty(&json).expect("json") + "\n")
        .map_err(|e| TrainError::io(&state_path, e))?;
    let dest = root.join(dir_name(state.step));
    if dest.exists() {
        std::fs::remove_dir_all(&dest).map_err(|e| TrainError::io(&dest, e))?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, &dest).map_err(|e| TrainError::io(&dest, e))?;
    let all = list(run);
    for old in &all[..all.len().saturating_sub(keep)] {
        std::fs::remove_dir_all(old).map_err(|e| TrainError::io(old, e))?;
    }
    Ok(())
}

/// Reads the optimizer state and run state of checkpoint `dir` (the model is loaded by the caller with
/// [`Transformer::load_with`]).
///
/// # Errors
/// Missing or malformed files.
pub fn load(dir: &Path, opt: &mut AdamW, device: &burn::prelude::Device) -> Result<State> {
    let state_path = dir.join("state.json");
    let text = std::fs::read_to_string(&state_path).map_err(|e| TrainError::io(&state_path, e))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| TrainError::Run { path: state_path.clone(), problem: format!("not valid JSON: {e}") })?;
    let state: State = serde_json::from_value(json["state"].clone())
        .map_err(|e| TrainError::Run { path: state_path.clone(), problem: format!("not a checkpoint state: {e}") })?;
    opt.steps = json["optimizer_steps"].as_u64().unwrap_or(state.step);
    let weights = Weights::open(&dir.join("optimizer.safetensors"))?;
    let names = weights.names()?;
    let tensor = |name: &str| -> Result<burn::prelude::Tensor<1>> {
        let (_, values) = weights.raw(name)?.ok_or_else(|| weights.error(format!("tensor `{name}` is missing")))?;
        let n = values.len();
        Ok(burn::prelude::Tensor::from_data(burn::prelude::TensorData::new(values, [n]), device))
    };
    opt.state.clear();
    for name in names.iter().filter_map(|n| n.strip_prefix("m/")) {
        opt.state
            .insert(name.to_owned(), Moments { m: tensor(&format!("m/{name}"))?, v: tensor(&format!("v/{name}"))? });
    }
    Ok(state)
}
