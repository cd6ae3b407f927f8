//! `slm import`: bring a pretrained model into slm's model directory (the Hugging Face layout).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::CliError;

/// Import a model: a GGUF file (llama.cpp) becomes a Hugging Face model directory (config.json,
/// model.safetensors in f32 with HF tensor names, tokenizer.json, tokenizer_config.json with the chat
/// template, generation_config.json); a Hugging Face llama-family directory (model.safetensors in
/// f32/f16/bf16) is checked and copied.
///
/// GGUF: versions 2 and 3, the llama architecture (Llama, SmolLM, TinyLlama, Mistral), tensors in F32,
/// F16, BF16, Q8_0, Q4_0 and Q4_1 (dequantized to f32), byte-level BPE tokenizers.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  scripts/fetch-models.sh
  slm import models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf --out models/smollm2
  slm import ~/hf/TinyLlama-1.1B-Chat --out models/tinyllama")]
pub struct Args {
    /// A .gguf file, or a Hugging Face model directory.
    src: PathBuf,
    /// The model directory to create.
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing directory.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let started = std::time::Instant::now();
    let s = if args.src.is_dir() {
        slm_model::io::hf::import_hf_dir(&args.src, &args.out, args.force)?
    } else {
        slm_model::io::gguf::import_gguf(&args.src, &args.out, args.force)?
    };
    eprintln!(
        "imported {} ({:.1}M parameters, {} tensors) into {} in {:.1} s",
        s.architecture,
        s.parameters as f64 / 1e6,
        s.tensors,
        s.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
