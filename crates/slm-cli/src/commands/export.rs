//! `slm export`: write a model as a Hugging Face model directory or a GGUF file.

use std::path::PathBuf;
use std::process::ExitCode;

use slm_model::io::gguf::ExportType;
use slm_model::io::hf::HfDtype;

use crate::CliError;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A Hugging Face model directory.
    Hf,
    /// One GGUF file for llama.cpp.
    Gguf,
}

/// `--dtype`: how the tensors are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dtype {
    /// 32-bit floats (both formats).
    F32,
    /// IEEE half (both formats; GGUF keeps norms in f32).
    F16,
    /// bfloat16 (Hugging Face only).
    Bf16,
    /// llama.cpp's 8-bit blocks (GGUF only).
    #[value(name = "q8_0")]
    Q8_0,
}

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
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Hf)]
    format: Format,
    /// Storage of the tensors: f32, f16 or bf16 for hf; f32, f16 or q8_0 for gguf.
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    dtype: Dtype,
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
    let refused = |format: &str, dtype: &str, takes: &str| {
        CliError::Usage(format!("--dtype {dtype} does not apply to --format {format}; it takes {takes}"))
    };
    enum Target {
        Hf(HfDtype),
        Gguf(ExportType),
    }
    let target = match (args.format, args.dtype) {
        (Format::Hf, Dtype::F32) => Target::Hf(HfDtype::F32),
        (Format::Hf, Dtype::F16) => Target::Hf(HfDtype::F16),
        (Format::Hf, Dtype::Bf16) => Target::Hf(HfDtype::Bf16),
        (Format::Hf, Dtype::Q8_0) => return Err(refused("hf", "q8_0", "f32, f16 or bf16")),
        (Format::Gguf, Dtype::F32) => Target::Gguf(ExportType::F32),
        (Format::Gguf, Dtype::F16) => Target::Gguf(ExportType::F16),
        (Format::Gguf, Dtype::Q8_0) => Target::Gguf(ExportType::Q8_0),
        (Format::Gguf, Dtype::Bf16) => return Err(refused("gguf", "bf16", "f32, f16 or q8_0")),
    };
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
    let dtype = match target {
        Target::Hf(dtype) => dtype,
        Target::Gguf(gguf) => {
            let s = slm_model::io::gguf::export_gguf(&mut model, &src, &args.out, gguf, args.force)?;
            eprintln!(
                "exported {:.2}M parameters as GGUF ({}) to {}: {} tensors, {:.1} MB",
                parameters as f64 / 1e6,
                gguf.name(),
                args.out.display(),
                s.tensors,
                s.bytes as f64 / 1e6
            );
            return Ok(ExitCode::SUCCESS);
        }
    };
    slm_model::io::hf::save_pretrained(&mut model, &args.out, &src, dtype, args.force)?;
    eprintln!(
        "exported {} ({:.2}M parameters) to {}",
        model.config.to_hf()["architectures"][0].as_str().unwrap_or("model"),
        parameters as f64 / 1e6,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
