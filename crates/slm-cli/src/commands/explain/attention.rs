//! `slm explain attention`: the attention weights of every layer and head over a text, with rollout, as
//! JSON, a self-contained HTML page and PNG heatmaps.

use std::path::PathBuf;
use std::process::ExitCode;

use slm_data::records::Reader;
use slm_model::generate::Generator;
use slm_model::io::model_dir;

use crate::CliError;
use crate::flags::Given;
use crate::progress::Bar;

/// Show where a model attends: per layer and head, the post-softmax attention over a text.
///
/// Writes into --out: attention.json (tokens, `attention[layer][head][query][key]`, `rollout[query][key]`),
/// attention.html (one offline file: a head view with lines weighted by attention, and a heatmap; layer,
/// rollout and head selectors), layer_NN.png (a grid of the layer's heads) and rollout.png. With --input,
/// one such set per record in --out/0001/, --out/0002/, ...
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm explain attention --model runs/sms-spam-classify/final --text 'WINNER! Claim your prize' --out explain/spam
  slm explain attention --model smollm2 --input prompts.jsonl --field prompt --out explain/prompts")]
pub struct Args {
    /// Model directory (a LoRA adapter directory works too: its adapters are merged).
    #[arg(long)]
    model: PathBuf,
    /// Burn backend (ndarray and wgpu need the cargo features of those names).
    #[arg(long, value_enum, default_value_t)]
    backend: slm_model::Backend,
    /// The text to explain.
    #[arg(long, conflicts_with = "input", required_unless_present = "input")]
    text: Option<String>,
    /// JSONL (or CSV/TSV/text) file of texts, one explanation each.
    #[arg(long)]
    input: Option<PathBuf>,
    /// The text field of --input records.
    #[arg(long, default_value = "text")]
    field: String,
    /// Output directory (created; an existing one needs --force).
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing --out.
    #[arg(long)]
    force: bool,
}

/// Runs `slm explain attention`.
pub fn run(args: Args, given: &Given) -> Result<ExitCode, CliError> {
    if args.text.is_some() {
        given.refuse(&["field"], "--text (it goes with --input)")?;
    }
    model_dir::refuse_existing(&args.out, args.force)?;
    let device = args.backend.device()?;
    let generator = Generator::load(&args.model, &device)?;
    let name = args.model.file_name().map_or("model".into(), |n| n.to_string_lossy().into_owned());
    let staging = model_dir::staging_dir(&args.out)?;
    match (&args.text, &args.input) {
        (Some(text), _) => explain(&generator, text, &format!("{name}: attention"), staging.path())?,
        (None, Some(input)) => {
            let mut reader = Reader::open(input)?;
            let path = reader.path().to_owned();
            let bar = Bar::counting(std::fs::metadata(&path).map_or(0, |m| m.len()), "bytes");
            let mut count = 0;
            for record in reader.by_ref() {
                let record = record?;
                let text = record.require(&path, &args.field)?;
                count += 1;
                let dir = staging.path().join(format!("{count:04}"));
                std::fs::create_dir(&dir).map_err(|e| CliError::Usage(format!("{}: {e}", dir.display())))?;
                let title = format!("{name}: attention, record {count}");
                explain(&generator, &text, &title, &dir)
                    .map_err(|e| CliError::Usage(format!("{}:{}: {e}", path.display(), record.line)))?;
                bar.set_position(record.span.1);
            }
            bar.finish();
        }
        (None, None) => unreachable!("clap requires --text or --input"),
    }
    model_dir::publish(staging, &args.out)?;
    eprintln!("attention maps written to {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

fn explain(generator: &Generator, text: &str, title: &str, dir: &std::path::Path) -> Result<(), CliError> {
    let maps = slm_explain::attention::attention(generator, text)?;
    slm_explain::attention::write(&maps, title, dir)?;
    Ok(())
}
