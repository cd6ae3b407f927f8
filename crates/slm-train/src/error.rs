//! The one error type of slm-train: each message is one sentence naming the file, key or step.

use std::path::PathBuf;

/// Everything that stops a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The recipe is not valid TOML, has an unknown key or a bad value.
    #[error("{path}: {problem}")]
    Recipe {
        /// The recipe file.
        path: PathBuf,
        /// What is wrong, naming the key.
        problem: String,
    },
    /// A data file has a record the recipe cannot use.
    #[error("{path}: {problem}")]
    Data {
        /// The data file.
        path: PathBuf,
        /// What is wrong (line and field).
        problem: String,
    },
    /// The loss or the gradient became NaN or infinite.
    #[error("the training {what} became {value} at step {step}; the last good checkpoint is kept in {run}")]
    Diverged {
        /// `loss` or `gradient norm`.
        what: &'static str,
        /// The step.
        step: u64,
        /// NaN or inf.
        value: f64,
        /// The run directory.
        run: PathBuf,
    },
    /// The run directory does not fit the request.
    #[error("{path}: {problem}")]
    Run {
        /// The run directory.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A read or write failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Reading or writing data (records, tokenizers).
    #[error(transparent)]
    DataCrate(#[from] slm_data::DataError),
    /// Loading or saving a model.
    #[error(transparent)]
    Model(#[from] slm_model::ModelError),
}

impl TrainError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io { path: path.into(), source }
    }
}

/// The result type of slm-train.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
