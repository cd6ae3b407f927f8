//! `slm pseudo-label`: labels for unlabeled texts from a classifier, kept only where it is confident.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;
use slm_data::records::{Format, Reader, Writer, ensure_distinct};
use slm_model::classify::Classifier;
use slm_train::pseudo::{Pseudo, Selection};

use super::classify::{stream, text_field};
use crate::CliError;
use crate::flags::Given;

/// Label unlabeled texts with a classifier and keep the confident ones, for self-training.
///
/// Every record of --input is classified; those whose confidence is above --threshold (strictly, as
/// scikit-learn's SelfTrainingClassifier) are kept, then at most --top-k overall, then at most
/// --top-k-per-class per class, then with --balance as many per class as the rarest class has (the most
/// confident first; ties to the earlier record). Kept records are written in input order with their fields
/// and `label` (the --label-field), `confidence` and `margin` (the lead over the runner-up class); the
/// counts go to stderr.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm pseudo-label --model runs/few-labels/final --input unlabeled.jsonl --field text --out pseudo.jsonl
  slm pseudo-label --model runs/few-labels/final --input unlabeled.jsonl --out pseudo.jsonl --threshold 0.95 --top-k-per-class 200 --balance")]
pub struct Args {
    /// Classifier directory (a model with a classification head, or a LoRA adapter directory of one).
    #[arg(long)]
    model: PathBuf,
    /// Burn backend (ndarray and wgpu need the cargo features of those names).
    #[arg(long, value_enum, default_value_t)]
    backend: slm_model::Backend,
    /// JSONL (or CSV/TSV/text) file of unlabeled texts.
    #[arg(long)]
    input: PathBuf,
    /// Output file: the kept records with their pseudo-labels, in the format of its extension.
    #[arg(long)]
    out: PathBuf,
    /// The text field of --input records.
    #[arg(long, default_value = "text")]
    field: String,
    /// The field the pseudo-label is written to.
    #[arg(long, default_value = "label")]
    label_field: String,
    /// Keep predictions whose probability is above this, in (0, 1].
    #[arg(long, default_value_t = 0.9)]
    threshold: f32,
    /// Then keep at most this many, the most confident.
    #[arg(long)]
    top_k: Option<usize>,
    /// Then keep at most this many per class, the most confident.
    #[arg(long)]
    top_k_per_class: Option<usize>,
    /// Then keep the same number for every class (the rarest class's count).
    #[arg(long)]
    balance: bool,
    /// Texts run together.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Overwrite an existing --out.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args, given: &Given) -> Result<ExitCode, CliError> {
    let selection = Selection {
        threshold: args.threshold,
        top_k: args.top_k,
        top_k_per_class: args.top_k_per_class,
        balance: args.balance,
    };
    selection.validate().map_err(CliError::Usage)?;
    if args.batch_size == 0 {
        return Err(CliError::Usage("--batch-size must be at least 1".into()));
    }
    ensure_distinct(&args.out, &[args.input.as_path()])?;
    let out_format = Format::from_path(&args.out);
    if out_format == Format::Text {
        return Err(CliError::Usage(format!(
            "{}: pseudo-labels need a .jsonl, .csv or .tsv output (a text file holds no label field)",
            args.out.display()
        )));
    }
    let device = args.backend.device()?;
    let classifier = Classifier::load(&args.model, &device)?;
    let labels = classifier.labels().to_vec();

    // First pass: every prediction (a few numbers per record); the selection needs them all.
    let reader = Reader::open(&args.input)?;
    let field = text_field(&reader, &args.field, given)?;
    let mut predictions = Vec::new();
    let mut margins = Vec::new();
    let label_field = args.label_field.clone();
    let input = args.input.clone();
    stream(&classifier, reader, &field, args.batch_size, |record, p| {
        if record.fields.contains_key(&label_field) {
            return Err(CliError::Usage(format!(
                "{}:{}: the record already has a `{label_field}` field; choose another --label-field",
                input.display(),
                record.line
            )));
        }
        predictions.push(Pseudo { label: p.label, confidence: p.confidence() });
        margins.push(p.margin());
        Ok(())
    })?;
    let selected = selection.select(&predictions, labels.len());

    // Second pass: the kept records, in input order.
    let reader = Reader::open(&args.input)?;
    let mut columns = reader.header().map_or_else(|| vec![field.clone()], <[String]>::to_vec);
    columns.extend([args.label_field.clone(), "confidence".to_owned(), "margin".to_owned()]);
    let mut writer = Writer::create(&args.out, out_format, columns, args.force)?;
    let mut kept = selected.kept.iter().peekable();
    for (i, record) in reader.enumerate() {
        let mut record = record?;
        if kept.next_if_eq(&&i).is_none() {
            continue;
        }
        let p = predictions[i];
        record.fields.insert(args.label_field.clone(), json!(labels[p.label]));
        record.fields.insert("confidence".into(), json!(p.confidence));
        record.fields.insert("margin".into(), json!(margins[i]));
        writer.write(&record.fields)?;
    }
    writer.commit()?;
    let per_class: Vec<String> = labels.iter().zip(&selected.per_class).map(|(l, n)| format!("{l} {n}")).collect();
    eprintln!(
        "kept {} of {} records ({}); {} at or below the threshold {}, {} cut by --top-k, --top-k-per-class or --balance; written to {}",
        selected.kept.len(),
        predictions.len(),
        per_class.join(", "),
        selected.below_threshold,
        args.threshold,
        selected.capped,
        args.out.display()
    );
    if selected.kept.is_empty() {
        eprintln!("warning: no record was kept; lower --threshold or drop --balance");
    }
    Ok(ExitCode::SUCCESS)
}
