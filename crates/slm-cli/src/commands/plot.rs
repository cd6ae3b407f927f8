//! `slm plot`: draw a run's metrics.csv.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::CliError;

/// Draw the loss (training, smoothed, and validation) and learning-rate curves of one run, or of several
/// runs on shared axes, as a PNG.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm plot runs/shakespeare-char/metrics.csv --out curves.png
  slm plot runs/shakespeare-char --out curves.png
  slm plot runs/dolly-distill runs/dolly-labels --out distill.png")]
pub struct Args {
    /// metrics.csv files, or run directories holding one.
    #[arg(required = true)]
    metrics: Vec<PathBuf>,
    /// The PNG to write.
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing image.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    if args.out.exists() && !args.force {
        return Err(CliError::Usage(format!("{}: already exists; pass --force to replace it", args.out.display())));
    }
    let mut runs = Vec::new();
    for m in &args.metrics {
        let path = if m.is_dir() { m.join("metrics.csv") } else { m.clone() };
        let name = path
            .parent()
            .and_then(|p| p.file_name())
            .map_or_else(|| "run".to_owned(), |n| n.to_string_lossy().into_owned());
        runs.push((name, slm_train::plot::read(&path)?));
    }
    slm_train::plot::draw(&runs, &args.out)?;
    let points: Vec<String> = runs
        .iter()
        .map(|(n, c)| format!("{n}: {} training and {} validation points", c.train.len(), c.val.len()))
        .collect();
    eprintln!("{}: {}", args.out.display(), points.join("; "));
    Ok(ExitCode::SUCCESS)
}
