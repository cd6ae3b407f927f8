//! `slm export`: write a model as a Hugging Face model directory.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::CliError;

/// Write a model (a model directory, or a run directory's final/ model) as a Hugging Face model directory:
/// config.json with HF keys, model.safetensors (f32, HF tensor names and shapes), generation_config.json
/// and the tokenizer files. `transformers` loads the result with `from_pretrained` unchanged.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm export runs/shakespeare-char --format hf --out export/shakespeare-char
  slm export models/smollm2 --format hf --out export/smollm2")]
pub struct Args {
    /// A model directory, or a run directory (its final/ model is exported).
    src: PathBuf,
    /// Output format (`hf`; GGUF export is planned).
    #[arg(long, default_value = "hf")]
    format: String,
    /// The directory to create.
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing directory.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    if args.format != "hf" {
        return Err(CliError::Usage(format!("--format {} is not supported; use --format hf", args.format)));
    }
    let src = if args.src.join("final/config.json").is_file() { args.src.join("final") } else { args.src.clone() };
    let mut model = slm_model::Transformer::load(&src, &burn::prelude::Device::flex())?;
    let parameters = model.num_params();
    slm_model::save::save_pretrained(&mut model, &args.out, &src, args.force)?;
    eprintln!(
        "exported {} ({:.2}M parameters) to {}",
        model.config.to_hf()["architectures"][0].as_str().unwrap_or("model"),
        parameters as f64 / 1e6,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
