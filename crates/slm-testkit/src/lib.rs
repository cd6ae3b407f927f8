//! Helpers shared by slm's tests (a dev-dependency of the other crates, never a dependency): where the
//! repository, its test data (`testdata/`, each fixture beside the script that made it) and its datasets
//! are, and where the pretrained models live.

#![warn(missing_docs)]

use std::path::PathBuf;

/// The SmolLM2-135M-Instruct GGUF, relative to a models directory.
pub const SMOLLM2_GGUF: &str = "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The repository root: the nearest directory holding `Cargo.lock` above the tested package, read at run
/// time (`cargo test` sets `CARGO_MANIFEST_DIR`). Not `env!`: checkouts at different paths share compiled
/// artifacts through one target directory, and a path baked in at compile time can be another checkout's.
pub fn root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| std::env::current_dir().expect("a working directory"), PathBuf::from);
    start
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .unwrap_or_else(|| panic!("no Cargo.lock above {}", start.display()))
        .to_owned()
}

/// A path under `testdata/`.
pub fn testdata(rel: &str) -> PathBuf {
    root().join("testdata").join(rel)
}

/// A path under `datasets/`.
pub fn dataset(rel: &str) -> PathBuf {
    root().join("datasets").join(rel)
}

/// The model file `rel` of a models directory: `SLM_MODELS_DIR` (CI sets it to ../shared/models), else
/// the shared checkout's `../shared/models`, else the repository's `models/`, where
/// `scripts/fetch-models.sh` fetches it when no directory has it.
///
/// # Panics
/// When the fetch script fails: the tests that need the model cannot run.
pub fn model(rel: &str) -> PathBuf {
    let root = root();
    let dirs = match std::env::var_os("SLM_MODELS_DIR") {
        Some(d) => vec![PathBuf::from(d)],
        None => vec![root.join("../shared/models"), root.join("models")],
    };
    if let Some(found) = dirs.iter().map(|d| d.join(rel)).find(|p| p.exists()) {
        return found;
    }
    let target = dirs.last().expect("at least one directory");
    let script = root.join("scripts/fetch-models.sh");
    let status = std::process::Command::new(&script)
        .env("SLM_MODELS_DIR", target)
        .status()
        .unwrap_or_else(|e| panic!("{}: cannot run: {e}", script.display()));
    assert!(status.success(), "{} failed ({status}) to fetch {rel}", script.display());
    target.join(rel)
}
