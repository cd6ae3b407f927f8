//! The one error type of slm-model. Every message is one sentence naming the file and what is wrong.

use std::path::PathBuf;

/// Everything that can go wrong while reading or writing models.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The OS refused a read or a write.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not in the expected format, or is cut short.
    #[error("{path}: {problem}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, e.g. "truncated while reading the name of tensor 12 (at byte 4096)".
        problem: String,
    },
    /// The file is valid but uses something slm does not support.
    #[error("{path}: {what} is not supported; {supported}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What was found ("tensor type Q5_K of blk.0.attn_q.weight").
        what: String,
        /// What is supported.
        supported: String,
    },
    /// A backend that this build of slm does not contain.
    #[error("backend `{0}` is not compiled in; rebuild slm with `--features {0}`")]
    BackendMissing(&'static str),
    /// Writing an output failed (the data crate's atomic writer).
    #[error(transparent)]
    Data(#[from] slm_data::DataError),
}

impl ModelError {
    /// A format error.
    pub fn format(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        ModelError::Format { path: path.into(), problem: problem.into() }
    }
}

/// The result type of slm-model.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
