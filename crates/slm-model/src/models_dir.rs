//! Where pretrained models live: `SLM_MODELS_DIR` (CI sets it to ../shared/models), else the shared
//! checkout's `../shared/models`, else the repository's `models/`, where `scripts/fetch-models.sh` fetches
//! them when they are absent.

use std::path::{Path, PathBuf};

use crate::error::{ModelError, Result};

/// The SmolLM2-135M-Instruct GGUF, relative to a models directory.
pub const SMOLLM2_GGUF: &str = "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The file `rel` from the models directories of the repository at `root`, fetched into `root/models`
/// (or `SLM_MODELS_DIR`) with `scripts/fetch-models.sh` when no directory has it.
///
/// # Errors
/// The fetch script fails.
pub fn find_or_fetch(root: &Path, rel: &str) -> Result<PathBuf> {
    let dirs = match std::env::var_os("SLM_MODELS_DIR") {
        Some(d) => vec![PathBuf::from(d)],
        None => vec![root.join("../shared/models"), root.join("models")],
    };
    if let Some(found) = dirs.iter().map(|d| d.join(rel)).find(|p| p.exists()) {
        return Ok(found);
    }
    let target = dirs.last().expect("at least one directory");
    let script = root.join("scripts/fetch-models.sh");
    let status = std::process::Command::new(&script)
        .env("SLM_MODELS_DIR", target)
        .status()
        .map_err(|e| ModelError::Io { path: script.clone(), source: e })?;
    if !status.success() {
        return Err(ModelError::format(&script, format!("failed ({status}) to fetch {rel}")));
    }
    Ok(target.join(rel))
}
