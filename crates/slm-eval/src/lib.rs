//! Evaluators for slm.

mod error;
pub use error::EvalError;
