//! `slm split`: train/validation split with stratification, groups and deduplication.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;
use slm_data::split::{SplitOptions, SplitSummary, split_file};

use crate::CliError;
use crate::flags::Given;
use crate::progress::Bar;

/// Split a dataset into train and validation sets (8:2 by default) without leakage.
///
/// Exact duplicates (after Unicode NFC, lowercasing and whitespace folding of the text fields) are kept
/// once; near-duplicates (MinHash over word 5-grams, Jaccard >= 0.8) are kept on one side only. Outputs
/// are `train.EXT` and `val.EXT` in the input's format, records unchanged and in input order.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm split datasets/sms_spam/sms_spam.jsonl --stratify label --out-dir data/sms
  slm split datasets/banking77/train.csv --stratify category --ratio 0.9 --json
  slm split datasets/mbpp/mbpp.jsonl --group task_id --near-dup 0.7 --out-dir data/mbpp")]
pub struct Args {
    /// Input file: .jsonl, .csv, .tsv, or plain text (one record per line).
    data: PathBuf,
    /// Share of records that go to train, between 0 and 1.
    #[arg(long, default_value_t = 0.8)]
    ratio: f64,
    /// Seed of the shuffle; the same input and seed give byte-identical outputs.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Split each class of this field in the same ratio.
    #[arg(long, value_name = "FIELD")]
    stratify: Option<String>,
    /// Records with the same value of this field never straddle the split.
    #[arg(long, value_name = "FIELD")]
    group: Option<String>,
    /// Text fields used to find duplicates (repeatable); default: every string field but the
    /// stratify and group fields.
    #[arg(long = "field", value_name = "FIELD")]
    fields: Vec<String>,
    /// Jaccard similarity at which two records are near-duplicates, or `off`.
    #[arg(long, value_name = "THRESHOLD|off", default_value = "0.8")]
    near_dup: String,
    /// Keep duplicates: no exact or near-duplicate detection.
    #[arg(long)]
    no_dedup: bool,
    /// Directory for train.* and val.*.
    #[arg(long, default_value = ".")]
    out_dir: PathBuf,
    /// Overwrite existing outputs.
    #[arg(long)]
    force: bool,
    /// Print one JSON object on stdout instead of the table on stderr.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, given: &Given) -> Result<ExitCode, CliError> {
    if args.no_dedup {
        given.refuse(&["near_dup", "fields"], "--no-dedup (no duplicate detection runs)")?;
    }
    let near_dup = match args.near_dup.as_str() {
        "off" => None,
        t => Some(
            t.parse::<f64>()
                .map_err(|_| CliError::Usage(format!("--near-dup takes a number in (0, 1] or `off`, got `{t}`")))?,
        ),
    };
    let opts = SplitOptions {
        ratio: args.ratio,
        seed: args.seed,
        stratify: args.stratify,
        group: args.group,
        dedup: !args.no_dedup,
        near_dup,
        text_fields: (!args.fields.is_empty()).then_some(args.fields),
        out_dir: args.out_dir,
        overwrite: args.force,
    };
    let summary = split_file(&args.data, &opts, &Bar::new())?;
    if args.json {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", to_json(&summary))?;
    } else {
        eprint!("{}", table(&summary));
    }
    Ok(ExitCode::SUCCESS)
}

fn to_json(s: &SplitSummary) -> serde_json::Value {
    let classes: serde_json::Map<String, serde_json::Value> =
        s.classes.iter().map(|c| (c.name.clone(), json!({"train": c.train, "val": c.val}))).collect();
    json!({
        "metric": "split",
        "train": s.train,
        "val": s.val,
        "classes": classes,
        "duplicates_removed": s.duplicates_removed,
        "near_duplicate_pairs": s.near_duplicate_pairs,
        "train_path": s.train_path,
        "val_path": s.val_path,
    })
}

fn table(s: &SplitSummary) -> String {
    let mut out = String::new();
    let pct = |part: u64, whole: u64| 100.0 * part as f64 / whole.max(1) as f64;
    if !s.classes.is_empty() {
        let width = s.classes.iter().map(|c| c.name.len()).max().unwrap_or(5).max(5);
        out += &format!(
            "{:width$}  {:>8}  {:>8}  {:>8}  {:>7}  {:>7}  {:>7}\n",
            "class", "total", "train", "val", "share", "train%", "val%"
        );
        for c in &s.classes {
            out += &format!(
                "{:width$}  {:>8}  {:>8}  {:>8}  {:>6.1}%  {:>6.1}%  {:>6.1}%\n",
                c.name,
                c.train + c.val,
                c.train,
                c.val,
                pct(c.train + c.val, s.train + s.val),
                pct(c.train, s.train),
                pct(c.val, s.val),
            );
        }
    }
    out += &format!(
        "train {} -> {}\nval   {} -> {}\nexact duplicates removed: {}, near-duplicate pairs kept together: {}\n",
        s.train,
        s.train_path.display(),
        s.val,
        s.val_path.display(),
        s.duplicates_removed,
        s.near_duplicate_pairs
    );
    out
}
