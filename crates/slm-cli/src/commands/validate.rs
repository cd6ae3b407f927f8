//! `slm validate`: syntax-check code fields.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;
use slm_data::validate::{Lang, ValidateOptions, validate_file};

use crate::CliError;
use crate::progress::Bar;

/// Check that the code in each record parses (Python with Ruff's parser, Rust with syn, JSON).
///
/// Prints each invalid record with its line and the parser's message; exits 1 if any record is invalid.
/// With `--drop-invalid --out FILE`, writes the valid records to FILE.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm validate datasets/mbpp/mbpp.jsonl --field code --lang python
  slm validate humaneval.jsonl --field prompt --field canonical_solution --lang python
  slm validate data.jsonl --field code --lang python --drop-invalid --out clean.jsonl")]
pub struct Args {
    /// Input file (.jsonl, .csv, .tsv).
    data: PathBuf,
    /// Field holding the code; repeat to concatenate fields in order.
    #[arg(long = "field", default_value = "code")]
    fields: Vec<String>,
    /// Language of the code.
    #[arg(long, value_enum, default_value = "python")]
    lang: LangArg,
    /// Write the valid records to --out.
    #[arg(long, requires = "out")]
    drop_invalid: bool,
    /// Output file for --drop-invalid.
    #[arg(long, requires = "drop_invalid")]
    out: Option<PathBuf>,
    /// Overwrite an existing output.
    #[arg(long)]
    force: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LangArg {
    Python,
    Rust,
    Json,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let opts = ValidateOptions {
        fields: args.fields,
        lang: match args.lang {
            LangArg::Python => Lang::Python,
            LangArg::Rust => Lang::Rust,
            LangArg::Json => Lang::Json,
        },
        out: args.out,
        overwrite: args.force,
    };
    let s = validate_file(&args.data, &opts, &Bar::new())?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let invalid: Vec<_> = s
            .invalid
            .iter()
            .map(|i| json!({"line": i.record_line, "code_line": i.issue.line, "column": i.issue.column, "message": i.issue.message}))
            .collect();
        writeln!(
            out,
            "{}",
            json!({"metric": "validate", "total": s.total, "valid": s.total - s.invalid.len() as u64, "invalid": invalid})
        )?;
    } else {
        for i in &s.invalid {
            writeln!(
                out,
                "{}:{}: invalid: code line {}, column {}: {}",
                args.data.display(),
                i.record_line,
                i.issue.line,
                i.issue.column,
                i.issue.message
            )?;
        }
        eprintln!("{} records, {} valid, {} invalid", s.total, s.total - s.invalid.len() as u64, s.invalid.len());
    }
    Ok(if s.invalid.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
