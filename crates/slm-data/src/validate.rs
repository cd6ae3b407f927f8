//! `slm validate`: syntax checks for code datasets, so that a model never trains on code that does not parse.
//!
//! Parsers: Python with `ruff_python_parser`, the parser of the Ruff linter (Astral): hand-written,
//! maintained, follows the current Python grammar (match statements, PEP 695/701) and reports errors with
//! exact source ranges; unlike tree-sitter it rejects what CPython's parser rejects instead of recovering.
//! Rust with `syn` (full syntax), JSON with `serde_json`.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::progress::Progress;
use crate::records::{Reader, Writer, ensure_distinct};

/// A language `slm validate` can parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Python 3 source (a module).
    Python,
    /// Rust source (a file: items).
    Rust,
    /// A JSON document.
    Json,
}

/// A syntax error: where in the code and what the parser said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxIssue {
    /// 1-based line within the code.
    pub line: usize,
    /// 1-based column (characters) within that line.
    pub column: usize,
    /// The parser's message.
    pub message: String,
}

/// Parses `code` as `lang`.
///
/// # Errors
/// The first syntax error the parser reports.
pub fn check(lang: Lang, code: &str) -> std::result::Result<(), SyntaxIssue> {
    match lang {
        Lang::Python => ruff_python_parser::parse_module(code).map(drop).map_err(|e| {
            let (line, column) = line_col(code, e.location.start().to_usize());
            SyntaxIssue { line, column, message: e.error.to_string() }
        }),
        Lang::Rust => syn::parse_file(code).map(drop).map_err(|e| {
            let start = e.span().start();
            SyntaxIssue { line: start.line, column: start.column + 1, message: e.to_string() }
        }),
        Lang::Json => serde_json::from_str::<serde_json::Value>(code).map(drop).map_err(|e| SyntaxIssue {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        }),
    }
}

fn line_col(code: &str, offset: usize) -> (usize, usize) {
    let before = &code[..offset.min(code.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// One record whose code does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The record's line in the data file.
    pub record_line: u64,
    /// The syntax error.
    pub issue: SyntaxIssue,
}

/// Options of `slm validate`.
pub struct ValidateOptions {
    /// Fields whose values, concatenated in order, form the code (`prompt` + `canonical_solution`).
    pub fields: Vec<String>,
    /// The language.
    pub lang: Lang,
    /// Write the valid records here.
    pub out: Option<PathBuf>,
    /// Replace an existing output.
    pub overwrite: bool,
}

/// What validation found.
#[derive(Debug, Clone, Default)]
pub struct ValidateSummary {
    /// Records checked.
    pub total: u64,
    /// Records that failed to parse, in file order.
    pub invalid: Vec<Invalid>,
}

/// Parses the code of every record of `input`; with `opts.out`, writes the valid records there.
///
/// # Errors
/// A malformed input, a record without a code field, an output that exists or is the input.
pub fn validate_file(input: &Path, opts: &ValidateOptions, progress: &dyn Progress) -> Result<ValidateSummary> {
    let mut reader = Reader::open(input)?;
    let mut writer = match &opts.out {
        Some(out) => {
            ensure_distinct(out, &[input])?;
            let columns = reader.header().map(<[String]>::to_vec).unwrap_or_default();
            Some(Writer::create(out, reader.format(), columns, opts.overwrite)?)
        }
        None => None,
    };
    let mut summary = ValidateSummary::default();
    progress.stage("parsing", None);
    for record in reader.by_ref() {
        let record = record?;
        let mut code = String::new();
        for field in &opts.fields {
            let value = record.require(input, field)?;
            code.push_str(&value);
        }
        summary.total += 1;
        match check(opts.lang, &code) {
            Ok(()) => {
                if let Some(w) = &mut writer {
                    w.write(&record.fields)?;
                }
            }
            Err(issue) => summary.invalid.push(Invalid { record_line: record.line, issue }),
        }
        progress.advance(1);
    }
    if let Some(w) = writer {
        w.commit()?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_errors_point_at_the_fault() {
        assert!(check(Lang::Python, "def f(x):\n    return x + 1\n").is_ok());
        assert!(check(Lang::Python, "match x:\n    case [a, *_]:\n        pass\n").is_ok());
        let e = check(Lang::Python, "def f(x):\n    return (x +\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        let e = check(Lang::Python, "x = 1\nif x\n    y = 2\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 5), "{e:?}");
        assert!(check(Lang::Python, "def f(:\n").is_err());
        assert!(check(Lang::Python, "  x = 1\n").is_err(), "unexpected indent");
    }

    #[test]
    fn rust_and_json() {
        assert!(check(Lang::Rust, "fn main() { let x = vec![1, 2]; }").is_ok());
        let e = check(Lang::Rust, "fn main() {\n    let x = ;\n}").unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
        assert!(check(Lang::Json, "{\"a\": [1, 2]}").is_ok());
        let e = check(Lang::Json, "{\"a\": [1, 2}").unwrap_err();
        assert_eq!((e.line, e.column), (1, 12));
    }
}
