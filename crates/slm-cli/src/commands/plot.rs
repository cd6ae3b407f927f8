//! `slm plot`: draw a run's metrics.csv.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::CliError;

/// Draw the loss (training, smoothed, and validation) and learning-rate curves of a run as a PNG.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm plot runs/shakespeare-char/metrics.csv --out curves.png
  slm plot runs/shakespeare-char --out curves.png")]
pub struct Args {
    /// A metrics.csv, or a run directory holding one.
    metrics: PathBuf,
    /// The PNG to write.
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing image.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let path = if args.metrics.is_dir() { args.metrics.join("metrics.csv") } else { args.metrics.clone() };
    if args.out.exists() && !args.force {
        return Err(CliError::Usage(format!("{}: already exists; pass --force to replace it", args.out.display())));
    }
    let curves = slm_train::plot::read(&path)?;
    let title = path
        .parent()
        .and_then(|p| p.file_name())
        .map_or_else(|| "run".to_owned(), |n| n.to_string_lossy().into_owned());
    slm_train::plot::draw(&curves, &title, &args.out)?;
    eprintln!("{}: {} training and {} validation points", args.out.display(), curves.train.len(), curves.val.len());
    Ok(ExitCode::SUCCESS)
}
