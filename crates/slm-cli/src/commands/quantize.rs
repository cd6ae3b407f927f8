//! `slm quantize`: store a model in f16, bf16 or int8.

use std::path::PathBuf;
use std::process::ExitCode;

use slm_model::io::quantize::{Precision, quantize_dir};

use crate::CliError;

/// Store a model directory in half precision (f16, bf16: every tensor) or int8 (linear layers'
/// matrices, symmetric, one f32 scale per output channel; embeddings and LM head in f16, norms f32).
/// Loading converts back to f32, so every slm command runs the result unchanged.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm quantize models/smollm2 --to int8 --out models/smollm2-int8
  slm quantize runs/shakespeare-char/final --to f16 --out models/shakespeare-f16")]
pub struct Args {
    /// An f32 model directory.
    src: PathBuf,
    /// The storage precision.
    #[arg(long, value_enum)]
    to: Precision,
    /// The directory to create.
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing directory.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let s = quantize_dir(&args.src, &args.out, args.to, args.force)?;
    eprintln!(
        "{}: {:.1} MB -> {:.1} MB ({:.0}%){}",
        args.out.display(),
        s.bytes_in as f64 / 1e6,
        s.bytes_out as f64 / 1e6,
        100.0 * s.bytes_out as f64 / s.bytes_in.max(1) as f64,
        if s.int8_tensors > 0 { format!(", {} matrices in int8", s.int8_tensors) } else { String::new() }
    );
    Ok(ExitCode::SUCCESS)
}
