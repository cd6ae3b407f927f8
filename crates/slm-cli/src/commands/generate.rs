//! `slm generate`: text from a model directory.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use slm_data::records::{Format, Reader, TEXT_FIELD, Writer, ensure_distinct};
use slm_model::generate::beam::{BeamOptions, EarlyStopping};
use slm_model::generate::sampling::SamplingOptions;
use slm_model::generate::{GenerateOptions, Generator};

use crate::CliError;
use crate::flags::Given;
use crate::progress::Bar;

/// How each new token is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    /// The most likely token.
    Greedy,
    /// A random token from the (filtered, tempered) distribution.
    Sample,
    /// Beam search over the most likely continuations.
    Beam,
}

impl Strategy {
    /// The flags that apply to other strategies but not to this one.
    fn foreign_flags(self) -> &'static [&'static str] {
        match self {
            Strategy::Greedy => {
                &["temperature", "top_k", "top_p", "min_p", "seed", "beams", "length_penalty", "early_stopping"]
            }
            Strategy::Sample => &["beams", "length_penalty", "early_stopping"],
            // Beam search ranks whole hypotheses: no sampling filters, penalties or stop strings.
            Strategy::Beam => {
                &["temperature", "top_k", "top_p", "min_p", "seed", "stop", "repetition_penalty", "no_repeat_ngram"]
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Strategy::Greedy => "greedy",
            Strategy::Sample => "sample",
            Strategy::Beam => "beam",
        }
    }
}

/// Generate text with a model: greedy decoding, sampling or beam search, with a KV cache.
///
/// With --prompt, stdout carries exactly the generated text. With --input, every record's prompt field
/// is completed and written to --out with a `generation` field added. Sampling applies, in order: the
/// repetition penalty, the temperature, top-k, top-p, min-p; --seed makes it reproducible.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm generate --model models/smollm2 --chat --prompt 'What is the capital of France?'
  slm generate --model models/smollm2 --chat --prompt 'Write a haiku about rain.' --strategy sample --temperature 0.7 --top-p 0.9 --seed 1
  slm generate --model models/smollm2 --chat --prompt 'Summarize: ...' --strategy beam --beams 4
  slm generate --model models/smollm2 --chat --input prompts.jsonl --field prompt --out out.jsonl")]
pub struct Args {
    /// Model directory (as written by `slm import` or `slm train`; a LoRA adapter directory works too).
    #[arg(long)]
    model: PathBuf,
    /// Burn backend (ndarray and wgpu need the cargo features of those names).
    #[arg(long, value_enum, default_value_t)]
    backend: slm_model::Backend,
    /// The prompt.
    #[arg(long, conflicts_with = "input")]
    prompt: Option<String>,
    /// JSONL (or CSV/TSV/text) file of prompts.
    #[arg(long, requires = "out")]
    input: Option<PathBuf>,
    /// Output file for --input: its records with a `generation` field, in the format of its extension
    /// (.jsonl, .csv, .tsv; a .txt output holds one generation per line).
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
    /// How each token is chosen.
    #[arg(long, value_enum, default_value_t = Strategy::Greedy)]
    strategy: Strategy,
    /// Beam search: hypotheses kept each step.
    #[arg(long, default_value_t = 4)]
    beams: usize,
    /// Beam search: rank by log-probability / length^P (as transformers).
    #[arg(long, default_value_t = 1.0)]
    length_penalty: f32,
    /// Beam search: end when --beams hypotheses have finished (true), when the best running one cannot beat
    /// them at its current length (false: transformers' default) or at the length limit (never).
    #[arg(long, value_enum, default_value = "false")]
    early_stopping: EarlyStopping,
    /// Sampling temperature (with --strategy sample).
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    /// Keep only the k most likely tokens (0: off).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Nucleus sampling: keep the most likely tokens up to this probability mass.
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Drop tokens less likely than this fraction of the most likely one.
    #[arg(long, default_value_t = 0.0)]
    min_p: f32,
    /// Penalise tokens already in the sequence (1: off).
    #[arg(long, default_value_t = 1.0)]
    repetition_penalty: f32,
    /// Never repeat an n-gram of this many tokens (0: off).
    #[arg(long, default_value_t = 0)]
    no_repeat_ngram: usize,
    /// Stop when the generated text contains this string (repeatable); it is cut off.
    #[arg(long)]
    stop: Vec<String>,
    /// Seed of the sampling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Recompute the whole sequence for every token instead of using the KV cache (slow; for checks).
    #[arg(long)]
    no_cache: bool,
    /// With --input: sequences decoded together (dynamic batching: a finished sequence leaves the batch
    /// and the next prompt takes its place). Beam search runs one prompt at a time.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Overwrite an existing --out.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args, given: &Given) -> Result<ExitCode, CliError> {
    given.refuse(args.strategy.foreign_flags(), &format!("--strategy {}", args.strategy.name()))?;
    if args.prompt.is_some() {
        given.refuse(&["field", "batch_size", "force"], "--prompt (they go with --input)")?;
    }
    if args.strategy == Strategy::Beam || args.no_cache {
        given.refuse(&["batch_size"], "beam search or --no-cache (prompts run one at a time)")?;
    }
    let temperature = match args.strategy {
        Strategy::Sample => args.temperature,
        Strategy::Greedy | Strategy::Beam => 0.0,
    };
    let sampling = SamplingOptions {
        temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        repetition_penalty: args.repetition_penalty,
        no_repeat_ngram: args.no_repeat_ngram,
        seed: args.seed,
        ..SamplingOptions::default()
    };
    sampling.validate().map_err(CliError::Usage)?;
    let beam = (args.strategy == Strategy::Beam).then_some(BeamOptions {
        beams: args.beams,
        length_penalty: args.length_penalty,
        early_stopping: args.early_stopping,
    });
    if args.strategy == Strategy::Beam && args.beams == 0 {
        return Err(CliError::Usage("--beams must be at least 1".into()));
    }
    let device = args.backend.device()?;
    let generator = Generator::load(&args.model, &device)?;
    let opts = GenerateOptions {
        max_new_tokens: args.max_new_tokens,
        use_cache: !args.no_cache,
        sampling,
        stop: args.stop.clone(),
        beam,
    };
    let prompt_of = |text: &str| if args.chat { generator.chat_prompt(text) } else { Ok(text.to_owned()) };
    match (&args.prompt, &args.input, &args.out) {
        (Some(prompt), _, _) => {
            let g = generator.generate(&prompt_of(prompt)?, &opts, |_| {})?;
            writeln!(std::io::stdout().lock(), "{}", g.text)?;
            let prompt_speed = if g.prefill_secs > 0.0 {
                format!(" in {:.2} s ({:.0} tokens/s)", g.prefill_secs, g.prompt_tokens as f64 / g.prefill_secs)
            } else {
                String::new()
            };
            eprintln!(
                "prompt: {} tokens{prompt_speed}; generation: {} tokens in {:.2} s ({:.1} tokens/s)",
                g.prompt_tokens,
                g.tokens.len(),
                g.decode_secs,
                g.tokens.len() as f64 / g.decode_secs.max(1e-9)
            );
        }
        (None, Some(input), Some(out)) => {
            ensure_distinct(out, &[input.as_path()])?;
            let mut reader = Reader::open(input)?;
            let field = super::classify::text_field(&reader, &args.field, given)?;
            let out_format = Format::from_path(out);
            let mut columns = reader.header().map_or_else(|| vec![field.clone()], <[String]>::to_vec);
            columns.push("generation".into());
            let mut writer = Writer::create(out, out_format, columns, args.force)?;
            let mut records = Vec::new();
            let mut prompts = Vec::new();
            for record in reader.by_ref() {
                let record = record?;
                let text = record.require(input, &field)?;
                prompts.push(prompt_of(&text)?);
                records.push(record);
            }
            let started = std::time::Instant::now();
            let bar = Bar::counting(prompts.len() as u64, "prompts");
            let mut texts: Vec<Option<String>> = vec![None; prompts.len()];
            let mut tokens = 0usize;
            let mut finish = |id: usize, text: String, n: usize| {
                texts[id] = Some(text);
                tokens += n;
                bar.inc(1);
                bar.set_message(format!("{:.1} tokens/s", tokens as f64 / started.elapsed().as_secs_f64()));
            };
            if opts.beam.is_some() || args.no_cache {
                for (id, p) in prompts.iter().enumerate() {
                    let g = generator.generate(p, &opts, |_| {})?;
                    finish(id, g.text, g.tokens.len());
                }
            } else {
                generator
                    .generate_batched(&prompts, &opts, args.batch_size, |o| finish(o.id, o.text, o.tokens.len()))?;
            }
            bar.finish();
            let n = records.len();
            for (mut record, text) in records.into_iter().zip(texts) {
                let text = text.unwrap_or_default();
                if out_format == Format::Text {
                    // One generation per line.
                    record.fields = [(TEXT_FIELD.to_owned(), text.into())].into_iter().collect();
                } else {
                    record.fields.insert("generation".into(), text.into());
                }
                writer.write(&record.fields)?;
            }
            eprintln!(
                "{tokens} tokens for {n} prompts in {:.1} s ({:.1} tokens/s, batch size {})",
                started.elapsed().as_secs_f64(),
                tokens as f64 / started.elapsed().as_secs_f64(),
                args.batch_size
            );
            writer.commit()?;
            eprintln!("{n} generations written to {}", out.display());
        }
        _ => return Err(CliError::Usage("give --prompt TEXT, or --input FILE with --out FILE".into())),
    }
    Ok(ExitCode::SUCCESS)
}
