//! `slm generate`: text from a model directory.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use slm_data::records::{Reader, Writer, ensure_distinct, field_str};
use slm_model::generate::{GenerateOptions, Generator};

use crate::CliError;

/// Generate text with a model (greedy decoding with a KV cache).
///
/// With --prompt, stdout carries exactly the generated text. With --input, every record's prompt field
/// is completed and written to --out with a `generation` field added.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm generate --model models/smollm2 --chat --prompt 'What is the capital of France?'
  slm generate --model models/smollm2 --chat --input prompts.jsonl --field prompt --out out.jsonl")]
pub struct Args {
    /// Model directory (as written by `slm import`).
    #[arg(long)]
    model: PathBuf,
    /// The prompt.
    #[arg(long, conflicts_with = "input")]
    prompt: Option<String>,
    /// JSONL (or CSV/TSV/text) file of prompts.
    #[arg(long, requires = "out")]
    input: Option<PathBuf>,
    /// Output file for --input, in its format.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The prompt field of --input records.
    #[arg(long, default_value = "prompt")]
    field: String,
    /// Wrap each prompt in the model's chat template as a user message.
    #[arg(long)]
    chat: bool,
    /// Most new tokens per prompt.
    #[arg(long, default_value_t = 128)]
    max_new_tokens: usize,
    /// Recompute the whole sequence for every token instead of using the KV cache (slow; for checks).
    #[arg(long)]
    no_cache: bool,
    /// Overwrite an existing --out.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let device = burn::prelude::Device::flex();
    let generator = Generator::load(&args.model, &device)?;
    let opts = GenerateOptions { max_new_tokens: args.max_new_tokens, use_cache: !args.no_cache };
    let prompt_of = |text: &str| if args.chat { generator.chat_prompt(text) } else { Ok(text.to_owned()) };
    match (&args.prompt, &args.input, &args.out) {
        (Some(prompt), _, _) => {
            let started = std::time::Instant::now();
            let g = generator.generate(&prompt_of(prompt)?, &opts, |_| {})?;
            writeln!(std::io::stdout().lock(), "{}", g.text)?;
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "{} prompt tokens, {} new tokens in {secs:.2} s ({:.1} tokens/s)",
                g.prompt_tokens,
                g.tokens.len(),
                g.tokens.len() as f64 / secs
            );
        }
        (None, Some(input), Some(out)) => {
            ensure_distinct(out, &[input.as_path()])?;
            let mut reader = Reader::open(input)?;
            let mut columns = reader.header().map(<[String]>::to_vec).unwrap_or_default();
            columns.push("generation".into());
            let mut writer = Writer::create(out, reader.format(), columns, args.force)?;
            let mut n = 0;
            for record in reader.by_ref() {
                let mut record = record?;
                let text = field_str(&record.fields, &args.field).ok_or_else(|| slm_data::DataError::MissingField {
                    path: input.clone(),
                    line: record.line,
                    field: args.field.clone(),
                })?;
                let g = generator.generate(&prompt_of(&text)?, &opts, |_| {})?;
                record.fields.insert("generation".into(), g.text.into());
                writer.write(&record.fields)?;
                n += 1;
            }
            writer.commit()?;
            eprintln!("{n} generations written to {}", out.display());
        }
        _ => return Err(CliError::Usage("give --prompt TEXT, or --input FILE with --out FILE".into())),
    }
    Ok(ExitCode::SUCCESS)
}
