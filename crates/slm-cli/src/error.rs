//! The CLI's error: any library error, or a usage mistake the parser could not catch. Printed as one
//! sentence; the process exits with code 2.

/// Why a command could not run.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input or options found by slm-data.
    #[error(transparent)]
    Data(#[from] slm_data::DataError),
    /// Bad input or options found by slm-eval.
    #[error(transparent)]
    Eval(#[from] slm_eval::EvalError),
    /// Bad input for an explanation, or an output that cannot be written (slm-explain).
    #[error(transparent)]
    Explain(#[from] slm_explain::ExplainError),
    /// A model that cannot be read or written (slm-model).
    #[error(transparent)]
    Model(#[from] slm_model::ModelError),
    /// A training run that cannot start or continue (slm-train).
    #[error(transparent)]
    Train(#[from] slm_train::TrainError),
    /// A usage mistake found by the CLI itself.
    #[error("{0}")]
    Usage(String),
    /// Writing to stdout failed.
    #[error("cannot write the result: {0}")]
    Stdout(#[from] std::io::Error),
}
