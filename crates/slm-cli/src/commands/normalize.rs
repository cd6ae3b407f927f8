//! `slm normalize`: glossary-based terminology normalization.

use std::path::PathBuf;
use std::process::ExitCode;

use slm_data::glossary::{Glossary, NormalizeOptions, normalize_file};

use crate::CliError;
use crate::progress::Bar;

/// Replace terminology variants by canonical terms from a glossary (case-insensitive, whole words,
/// longest match first) and report the replacements per term.
///
/// The glossary is a CSV (or TSV/JSONL) file with the fields `variant` and `canonical`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm normalize data.jsonl --glossary terms.csv --out data.norm.jsonl
  slm normalize datasets/scitldr/test.jsonl --glossary docs/examples/ml-terms.csv --field target --out t.jsonl")]
pub struct Args {
    /// Input file.
    data: PathBuf,
    /// Glossary with fields `variant` and `canonical`.
    #[arg(long)]
    glossary: PathBuf,
    /// Field to normalize (repeatable).
    #[arg(long = "field", default_value = "text")]
    fields: Vec<String>,
    /// Output file, in the input's format.
    #[arg(long)]
    out: PathBuf,
    /// Overwrite an existing output.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let glossary = Glossary::from_file(&args.glossary)?;
    let opts = NormalizeOptions { fields: args.fields, out: args.out, overwrite: args.force };
    let counts = normalize_file(&args.data, &glossary, &opts, &Bar::new())?;
    let total: u64 = counts.values().sum();
    eprintln!("{} variants in the glossary; {total} replacements written to {}", glossary.len(), opts.out.display());
    for (term, n) in &counts {
        eprintln!("{n:>8}  {term}");
    }
    Ok(ExitCode::SUCCESS)
}
