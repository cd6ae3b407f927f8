//! The one error type of slm-explain.

use std::path::PathBuf;

/// What can go wrong while explaining.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The model or its tokenizer.
    #[error(transparent)]
    Model(#[from] slm_model::ModelError),
    /// An input the method cannot explain (empty, longer than the context, ...).
    #[error("{0}")]
    Input(String),
    /// Writing an output failed.
    #[error("{path}: {problem}")]
    Output {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
}

/// The result type of slm-explain.
pub type Result<T, E = ExplainError> = std::result::Result<T, E>;
