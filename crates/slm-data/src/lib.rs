//! Data preparation for slm: read records in any of the supported formats, split them into train and
//! validation sets without leakage, augment, validate code, normalize terminology and train tokenizers.
//!
//! Nothing here prints: long operations report through [`Progress`], and every failure is a
//! [`DataError`] whose message names the file, line and field at fault.

#![warn(missing_docs)]

pub mod augment;
pub mod dedup;
pub mod error;
pub mod glossary;
pub mod progress;
pub mod records;
pub mod split;
pub mod text;
pub mod tokenizer;
pub mod validate;

pub use error::{DataError, Result};
pub use progress::{NoProgress, Progress};
