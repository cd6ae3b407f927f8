//! Evaluators for slm: BLEU and chrF identical to sacrebleu, ROUGE identical to rouge-score, accuracy and
//! F1, perplexity over any scorer, pass@k with sandboxed execution, cyclomatic complexity, and the
//! regression gate that compares scores with a baseline.

#![warn(missing_docs)]

pub mod bleu;
pub mod chrf;
pub mod classify;
pub mod complexity;
mod error;
pub mod gate;
pub mod ngrams;
pub mod passk;
pub mod perplexity;
pub mod pystr;
pub mod rouge;
pub mod segments;

pub use error::{EvalError, Result};
