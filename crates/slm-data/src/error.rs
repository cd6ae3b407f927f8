//! The one error type of slm-data. Every variant renders as one sentence that names the file, the line
//! and the field at fault, so the CLI can print it as is and exit with code 2.

use std::path::PathBuf;

/// Everything that can go wrong while reading, transforming or writing data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The operating system refused a read or a write.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A line of a JSON Lines file is not valid JSON.
    #[error("{path}:{line}: malformed JSON: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The parser's message.
        message: String,
    },
    /// A line of a JSON Lines file is valid JSON but not an object.
    #[error("{path}:{line}: expected a JSON object with named fields, found {found}")]
    NotObject {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What was found instead ("an array", "a number", ...).
        found: &'static str,
    },
    /// A CSV/TSV row has a different number of fields than the header.
    #[error("{path}:{line}: expected {expected} fields as in the header, found {found}")]
    FieldCount {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Fields in the header.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },
    /// A CSV/TSV file could not be parsed for another reason.
    #[error("{path}:{line}: malformed CSV: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The parser's message.
        message: String,
    },
    /// A file is not valid UTF-8.
    #[error("{path}:{line}: invalid UTF-8")]
    Utf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
    },
    /// A file holds no record at all.
    #[error("{path}: the file holds no records")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A record lacks a field the command needs.
    #[error("{path}:{line}: the record has no field `{field}`")]
    MissingField {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The missing field.
        field: String,
    },
    /// A field has a value of the wrong kind.
    #[error("{path}:{line}: field `{field}` {problem}")]
    BadField {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The field.
        field: String,
        /// What is wrong with it ("must be a string, found a number").
        problem: String,
    },
    /// An output would overwrite a file that already exists or is the input.
    #[error("{path}: {problem}")]
    Output {
        /// The output path.
        path: PathBuf,
        /// Why it cannot be written.
        problem: String,
    },
    /// An option has a value outside its domain.
    #[error("{0}")]
    Usage(String),
    /// The tokenizers library reported an error.
    #[error("{path}: tokenizer error: {message}")]
    Tokenizer {
        /// The file involved.
        path: PathBuf,
        /// The library's message.
        message: String,
    },
}

impl DataError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io { path: path.into(), source }
    }
}

/// The result type of slm-data.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
