//! The one error type of slm-eval. Every message is one sentence naming the file, line and field.

use std::path::PathBuf;

/// Everything that can go wrong while evaluating.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// An option or argument has a value outside its domain.
    #[error("{0}")]
    Usage(String),
    /// A file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A file is not valid UTF-8.
    #[error("{path}:{line}: invalid UTF-8")]
    Utf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
    },
    /// A file's content is malformed (bad JSON, a missing field, ...).
    #[error("{path}:{line}: {problem}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line (0: the file as a whole).
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// Two files that must align segment by segment do not.
    #[error("{hyp} has {hyp_lines} segments but {reference} has {ref_lines}; they must align line by line")]
    LineCount {
        /// The hypothesis file.
        hyp: PathBuf,
        /// Its segment count.
        hyp_lines: usize,
        /// The reference file.
        reference: PathBuf,
        /// Its segment count.
        ref_lines: usize,
    },
    /// Code execution was requested without the safety opt-ins.
    #[error("{0}")]
    Refused(String),
}

impl EvalError {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EvalError::Io { path: path.into(), source }
    }

    /// A malformed-content error.
    pub fn malformed(path: impl Into<PathBuf>, line: usize, problem: impl Into<String>) -> Self {
        EvalError::Malformed { path: path.into(), line, problem: problem.into() }
    }
}

/// The result type of slm-eval.
pub type Result<T, E = EvalError> = std::result::Result<T, E>;
