//! `slm export`: write a model as a Hugging Face model directory or a GGUF file.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::CliError;

/// Write a model (a model directory, a LoRA adapter directory, or a run directory's final/ model) as a
/// Hugging Face model directory: config.json with HF keys, model.safetensors (f32, HF tensor names and
/// shapes), generation_config.json and the tokenizer files. `transformers` loads the result with
/// `from_pretrained` unchanged. An adapter is folded into its base model with `--merge-lora`. With
/// `--format gguf`, one GGUF v3 file for llama.cpp (Llama-family models with a byte-level BPE tokenizer):
/// matrices in f32, f16 or q8_0, norms in f32, the tokenizer and chat template in the metadata.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm export runs/shakespeare-char --format hf --out export/shakespeare-char
  slm export models/smollm2 --format hf --out export/smollm2
  slm export runs/scitldr-lora/final --merge-lora --out models/smollm2-scitldr
  slm export models/smollm2 --format gguf --dtype q8_0 --out smollm2-q8_0.gguf")]
pub struct Args {
    /// A model directory, an adapter directory, or a run directory (its final/ model is exported).
    src: PathBuf,
    /// Output format: `hf` (a model directory) or `gguf` (a file).
    #[arg(long, default_value = "hf")]
    format: String,
    /// GGUF storage of the matrices: f32, f16 or q8_0.
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// The directory to create.
    #[arg(long)]
    out: PathBuf,
    /// Fold the LoRA adapters of an adapter directory into the base weights (W + alpha/r · A·B).
    #[arg(long)]
    merge_lora: bool,
    /// Replace an existing directory.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    if args.format != "hf" && args.format != "gguf" {
        return Err(CliError::Usage(format!("--format {} is not supported; use --format hf or gguf", args.format)));
    }
    let dtype = slm_model::io::gguf::ExportType::parse(&args.dtype)
        .ok_or_else(|| CliError::Usage(format!("--dtype {} is not supported; use f32, f16 or q8_0", args.dtype)))?;
    let final_dir = args.src.join("final");
    let is_model = |d: &std::path::Path| d.join("config.json").is_file() || slm_model::io::peft::is_adapter(d);
    let src = if is_model(&final_dir) { final_dir } else { args.src.clone() };
    let mut model = slm_model::Transformer::load(&src, &burn::prelude::Device::flex())?;
    if model.lora.is_some() {
        if !args.merge_lora {
            return Err(CliError::Usage(format!(
                "{} is a LoRA adapter; pass --merge-lora to fold it into its base model",
                src.display()
            )));
        }
        model.merge_lora();
    } else if args.merge_lora {
        return Err(CliError::Usage(format!("{} has no LoRA adapter to merge", src.display())));
    }
    let parameters = model.num_params();
    if args.format == "gguf" {
        let s = slm_model::io::gguf::export_gguf(&mut model, &src, &args.out, dtype, args.force)?;
        eprintln!(
            "exported {:.2}M parameters as GGUF ({}) to {}: {} tensors, {:.1} MB",
            parameters as f64 / 1e6,
            args.dtype,
            args.out.display(),
            s.tensors,
            s.bytes as f64 / 1e6
        );
        return Ok(ExitCode::SUCCESS);
    }
    slm_model::io::hf::save_pretrained(&mut model, &args.out, &src, args.force)?;
    eprintln!(
        "exported {} ({:.2}M parameters) to {}",
        model.config.to_hf()["architectures"][0].as_str().unwrap_or("model"),
        parameters as f64 / 1e6,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
