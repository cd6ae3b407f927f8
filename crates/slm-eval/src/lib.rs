//! Evaluators for slm: BLEU and chrF identical to sacrebleu, ROUGE identical to rouge-score, accuracy and
//! F1, perplexity over any scorer, pass@k with sandboxed execution, cyclomatic complexity, and the
//! regression gate that compares scores with a baseline.

pub mod bleu;
pub mod chrf;
mod error;
pub mod ngrams;
pub mod pystr;
pub mod rouge;
pub mod segments;

pub use error::{EvalError, Result};
