//! `slm classify`: the label of every text, from a model with a classification head.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;
use slm_data::records::{Fields, Format, Reader, Record, TEXT_FIELD, Writer, ensure_distinct};
use slm_model::classify::{Classifier, Prediction};

use crate::CliError;
use crate::flags::Given;
use crate::progress::Bar;

/// Classify texts with a model that has a classification head (`slm train` with `model.head =
/// "classification"`).
///
/// With --prompt, stdout carries the label (and the confidence on stderr). With --input, every record is
/// written to --out with its fields and `prediction` (the label) and `confidence` (its probability) added,
/// plus `prob_<label>` for every class with --probs. Records stream through in batches.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm classify --model runs/sms-spam-classify/final --prompt 'WINNER! Claim your free prize now'
  slm classify --model runs/sms-spam-classify/final --input val.jsonl --field text --out preds.jsonl
  slm eval --metric f1 --pred preds.jsonl --gold val.jsonl --pred-field prediction --gold-field label")]
pub struct Args {
    /// Model directory with a classification head (a LoRA adapter directory of one works too).
    #[arg(long)]
    model: PathBuf,
    /// Burn backend (ndarray and wgpu need the cargo features of those names).
    #[arg(long, value_enum, default_value_t)]
    backend: slm_model::Backend,
    /// One text to classify.
    #[arg(long, conflicts_with = "input")]
    prompt: Option<String>,
    /// JSONL (or CSV/TSV/text) file of texts.
    #[arg(long, requires = "out")]
    input: Option<PathBuf>,
    /// Output file for --input, in the format of its extension (a .txt output holds one label per line).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The text field of --input records.
    #[arg(long, default_value = "text")]
    field: String,
    /// Also write every class's probability (`prob_<label>`).
    #[arg(long)]
    probs: bool,
    /// Texts run together.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Overwrite an existing --out.
    #[arg(long)]
    force: bool,
}

/// Streams the records of `input` through `classifier`, `batch_size` at a time, calling `each` with every
/// record and its prediction in file order; returns the number of records.
///
/// # Errors
/// A record without the text field, an unreadable file, or what `each` returns.
pub fn stream(
    classifier: &Classifier,
    mut reader: Reader,
    field: &str,
    batch_size: usize,
    mut each: impl FnMut(Record, Prediction) -> Result<(), CliError>,
) -> Result<usize, CliError> {
    let path = reader.path().to_owned();
    let bar = Bar::counting(std::fs::metadata(&path).map_or(0, |m| m.len()), "bytes");
    let mut batch: Vec<(Record, String)> = Vec::with_capacity(batch_size);
    let mut count = 0;
    let mut flush = |batch: &mut Vec<(Record, String)>| -> Result<(), CliError> {
        let texts: Vec<&str> = batch.iter().map(|(_, t)| t.as_str()).collect();
        let predictions = classifier.predict(&texts)?;
        if let Some((r, _)) = batch.last() {
            bar.set_position(r.span.1);
        }
        for ((record, _), p) in batch.drain(..).zip(predictions) {
            each(record, p)?;
            count += 1;
        }
        Ok(())
    };
    for record in reader.by_ref() {
        let record = record?;
        let text = record.require(&path, field)?.into_owned();
        batch.push((record, text));
        if batch.len() == batch_size.max(1) {
            flush(&mut batch)?;
        }
    }
    flush(&mut batch)?;
    bar.finish();
    Ok(count)
}

/// The text field of `reader`'s records: `text` for plain text, where each line is one record's text and
/// `--field` is refused; else `field`.
///
/// # Errors
/// `--field` given for a plain-text input.
pub fn text_field(reader: &Reader, field: &str, given: &Given) -> Result<String, CliError> {
    if reader.format() == Format::Text {
        given.refuse(&["field"], "a plain-text --input (each line is one record's text)")?;
        Ok(TEXT_FIELD.to_owned())
    } else {
        Ok(field.to_owned())
    }
}

/// Adds `prediction`, `confidence` and (with `probs`) `prob_<label>` fields.
fn annotate(fields: &mut Fields, p: &Prediction, labels: &[String], probs: bool) {
    fields.insert("prediction".into(), json!(labels[p.label]));
    fields.insert("confidence".into(), json!(p.confidence()));
    if probs {
        for (label, prob) in labels.iter().zip(&p.probs) {
            fields.insert(format!("prob_{label}"), json!(prob));
        }
    }
}

pub fn run(args: Args, given: &Given) -> Result<ExitCode, CliError> {
    if args.prompt.is_some() {
        given.refuse(&["field", "batch_size", "force", "probs"], "--prompt (they go with --input)")?;
    }
    if args.batch_size == 0 {
        return Err(CliError::Usage("--batch-size must be at least 1".into()));
    }
    let device = args.backend.device()?;
    let classifier = Classifier::load(&args.model, &device)?;
    let labels = classifier.labels().to_vec();
    match (&args.prompt, &args.input, &args.out) {
        (Some(text), _, _) => {
            let p = classifier.predict(&[text])?.remove(0);
            writeln!(std::io::stdout().lock(), "{}", labels[p.label])?;
            eprintln!("confidence {:.4} (margin {:.4})", p.confidence(), p.margin());
        }
        (None, Some(input), Some(out)) => {
            ensure_distinct(out, &[input.as_path()])?;
            let reader = Reader::open(input)?;
            let field = text_field(&reader, &args.field, given)?;
            let out_format = Format::from_path(out);
            let mut columns = reader.header().map_or_else(|| vec![field.clone()], <[String]>::to_vec);
            columns.extend(["prediction".to_owned(), "confidence".to_owned()]);
            if args.probs {
                columns.extend(labels.iter().map(|l| format!("prob_{l}")));
            }
            let mut writer = Writer::create(out, out_format, columns, args.force)?;
            let n = stream(&classifier, reader, &field, args.batch_size, |mut record, p| {
                if out_format == Format::Text {
                    record.fields = [(TEXT_FIELD.to_owned(), json!(labels[p.label]))].into_iter().collect();
                } else {
                    annotate(&mut record.fields, &p, &labels, args.probs);
                }
                writer.write(&record.fields)?;
                Ok(())
            })?;
            writer.commit()?;
            eprintln!("{n} records classified into {}", out.display());
        }
        _ => return Err(CliError::Usage("give --prompt TEXT, or --input FILE with --out FILE".into())),
    }
    Ok(ExitCode::SUCCESS)
}
