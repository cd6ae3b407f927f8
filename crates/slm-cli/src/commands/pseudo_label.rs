//! `slm pseudo-label`: labels for unlabeled texts from a classifier, or completions from a causal LM, kept
//! only where the model is confident.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;
use slm_data::records::{Format, Reader, Record, Writer, ensure_distinct};
use slm_model::classify::Classifier;
use slm_model::generate::{GenerateOptions, Generator};
use slm_model::{Head, Transformer};
use slm_train::pseudo::{Pseudo, Selected, Selection};

use super::classify::{stream, text_field};
use crate::CliError;
use crate::flags::Given;
use crate::progress::Bar;

/// Label unlabeled texts with a classifier (or complete them with a causal LM) and keep the confident ones,
/// for self-training.
///
/// A classifier labels every record; those whose confidence is above --threshold (strictly, as
/// scikit-learn's SelfTrainingClassifier) are kept, then at most --top-k overall, then at most
/// --top-k-per-class per class, then with --balance as many per class as the rarest class has (the most
/// confident first; ties to the earlier record). Kept records are written in input order with their fields
/// and `label` (the --label-field), `confidence` and `margin` (the lead over the runner-up class).
///
/// A causal LM completes every record's text greedily (--max-new-tokens, --chat); the confidence of a
/// completion is the geometric mean of its tokens' probabilities (exp of the mean log-probability), and the
/// same threshold and --top-k apply. Kept records get the completion in --target-field and `confidence`.
/// The counts go to stderr.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm pseudo-label --model runs/few-labels/final --input unlabeled.jsonl --field text --out pseudo.jsonl
  slm pseudo-label --model runs/few-labels/final --input unlabeled.jsonl --out pseudo.jsonl --threshold 0.95 --top-k-per-class 200 --balance
  slm pseudo-label --model runs/sft/final --input questions.jsonl --field prompt --out sft.jsonl --chat --threshold 0.5")]
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
    /// Causal LM: the field the completion is written to.
    #[arg(long, default_value = "completion")]
    target_field: String,
    /// Causal LM: most new tokens per completion.
    #[arg(long, default_value_t = 128)]
    max_new_tokens: usize,
    /// Causal LM: wrap each text in the model's chat template as a user message.
    #[arg(long)]
    chat: bool,
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
    if Format::from_path(&args.out) == Format::Text {
        return Err(CliError::Usage(format!(
            "{}: pseudo-labels need a .jsonl, .csv or .tsv output (a text file holds no label field)",
            args.out.display()
        )));
    }
    let device = args.backend.device()?;
    let model = Transformer::load(&args.model, &device)?;
    let reader = Reader::open(&args.input)?;
    let field = text_field(&reader, &args.field, given)?;
    match model.config.head {
        Head::Classification => {
            given.refuse(&["target_field", "max_new_tokens", "chat"], "a classifier (they go with a causal LM)")?;
            let classifier = Classifier::with_model(model, &args.model)?;
            label(&args, &classifier, reader, &field, &selection)?;
        }
        Head::CausalLm => {
            given.refuse(
                &["label_field", "top_k_per_class", "balance"],
                "a causal LM (it writes completions, not classes)",
            )?;
            let generator = Generator::with_model(model, &args.model)?;
            complete(&args, &generator, reader, &field, &selection)?;
        }
        Head::MaskedLm => {
            return Err(CliError::Usage(format!(
                "{}: a masked LM gives neither labels nor completions; pseudo-labels need a classifier or a causal LM",
                args.model.display()
            )));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses a record that already has the field the output would write (`flag` chooses another).
fn free_field(path: &std::path::Path, record: &Record, field: &str, flag: &str) -> Result<(), CliError> {
    if record.fields.contains_key(field) {
        return Err(CliError::Usage(format!(
            "{}:{}: the record already has a `{field}` field; choose another {flag}",
            path.display(),
            record.line
        )));
    }
    Ok(())
}

/// What one kept record gains.
type Added = Vec<(String, serde_json::Value)>;

/// Writes the records of `input` whose indices are `kept` (ascending) with the fields `added(i)` appended,
/// and prints the counts.
fn write_kept(
    args: &Args,
    field: &str,
    new_columns: &[&str],
    selected: &Selected,
    total: usize,
    classes: &str,
    added: impl Fn(usize) -> Added,
) -> Result<(), CliError> {
    let reader = Reader::open(&args.input)?;
    let mut columns = reader.header().map_or_else(|| vec![field.to_owned()], <[String]>::to_vec);
    columns.extend(new_columns.iter().map(|c| (*c).to_owned()));
    let mut writer = Writer::create(&args.out, Format::from_path(&args.out), columns, args.force)?;
    let mut kept = selected.kept.iter().peekable();
    for (i, record) in reader.enumerate() {
        let mut record = record?;
        if kept.next_if_eq(&&i).is_some() {
            record.fields.extend(added(i));
            writer.write(&record.fields)?;
        }
    }
    writer.commit()?;
    eprintln!(
        "kept {} of {total} records{classes}; {} at or below the threshold {}, {} cut by --top-k, --top-k-per-class or --balance; written to {}",
        selected.kept.len(),
        selected.below_threshold,
        args.threshold,
        selected.capped,
        args.out.display()
    );
    if selected.kept.is_empty() {
        eprintln!("warning: no record was kept; lower --threshold or drop --balance");
    }
    Ok(())
}

/// The classifier's path: label every record, select, write.
fn label(
    args: &Args,
    classifier: &Classifier,
    reader: Reader,
    field: &str,
    selection: &Selection,
) -> Result<(), CliError> {
    let labels = classifier.labels().to_vec();
    let mut predictions = Vec::new();
    let mut margins = Vec::new();
    stream(classifier, reader, field, args.batch_size, |record, p| {
        free_field(&args.input, &record, &args.label_field, "--label-field")?;
        predictions.push(Pseudo { label: p.label, confidence: p.confidence() });
        margins.push(p.margin());
        Ok(())
    })?;
    let selected = selection.select(&predictions, labels.len());
    let per_class: Vec<String> = labels.iter().zip(&selected.per_class).map(|(l, n)| format!("{l} {n}")).collect();
    let columns = [args.label_field.as_str(), "confidence", "margin"];
    write_kept(args, field, &columns, &selected, predictions.len(), &format!(" ({})", per_class.join(", ")), |i| {
        vec![
            (args.label_field.clone(), json!(labels[predictions[i].label])),
            ("confidence".into(), json!(predictions[i].confidence)),
            ("margin".into(), json!(margins[i])),
        ]
    })?;
    Ok(())
}

/// The causal LM's path: complete every record greedily, score the completions, select, write.
fn complete(
    args: &Args,
    generator: &Generator,
    mut reader: Reader,
    field: &str,
    selection: &Selection,
) -> Result<(), CliError> {
    let path = reader.path().to_owned();
    let mut prompts = Vec::new();
    for record in reader.by_ref() {
        let record = record?;
        free_field(&path, &record, &args.target_field, "--target-field")?;
        let text = record.require(&path, field)?;
        prompts.push(if args.chat { generator.chat_prompt(&text)? } else { text.into_owned() });
    }
    let opts = GenerateOptions { max_new_tokens: args.max_new_tokens, ..GenerateOptions::default() };
    let bar = Bar::counting(prompts.len() as u64, "texts");
    let prompt_ids = prompts.iter().map(|p| generator.encode(p)).collect::<Result<Vec<_>, _>>()?;
    let mut completions: Vec<(String, f32)> = vec![(String::new(), 0.0); prompts.len()];
    generator.generate_batched(&prompts, &opts, args.batch_size, |o| {
        completions[o.id] = (o.text, mean_probability(&generator.model, &prompt_ids[o.id], &o.tokens));
        bar.inc(1);
    })?;
    bar.finish();
    let predictions: Vec<Pseudo> = completions.iter().map(|&(_, confidence)| Pseudo { label: 0, confidence }).collect();
    let selected = selection.select(&predictions, 1);
    let columns = [args.target_field.as_str(), "confidence"];
    write_kept(args, field, &columns, &selected, predictions.len(), "", |i| {
        vec![(args.target_field.clone(), json!(completions[i].0)), ("confidence".into(), json!(completions[i].1))]
    })?;
    Ok(())
}

/// The geometric mean of the probabilities of `completion`'s tokens after `prompt` (0 for an empty
/// completion), scored over the last context's worth of tokens.
fn mean_probability(model: &Transformer, prompt: &[u32], completion: &[u32]) -> f32 {
    if completion.is_empty() {
        return 0.0;
    }
    let all: Vec<u32> = prompt.iter().chain(completion).copied().collect();
    let window = &all[all.len().saturating_sub(model.config.max_positions)..];
    let log_probs = slm_model::score::next_token_log_probs(model, window);
    let scored = completion.len().min(log_probs.len());
    let mean = log_probs[log_probs.len() - scored..].iter().sum::<f64>() / scored.max(1) as f64;
    mean.exp() as f32
}
