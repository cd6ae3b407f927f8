//! The one error type of slm-eval.

/// Everything that can go wrong while evaluating.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// An option has a value outside its domain.
    #[error("{0}")]
    Usage(String),
}
