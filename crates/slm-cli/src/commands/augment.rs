//! `slm augment`: EDA augmentation of a text field.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use slm_data::augment::{AugmentOptions, Delete, Insert, Lexicon, Swap, Synonym, TextOp, augment_file};

use crate::CliError;
use crate::flags::Given;
use crate::progress::Bar;

/// Augment a text field with Easy Data Augmentation: synonym replacement (WordNet), random insertion,
/// random swap and random deletion.
///
/// Each input record is written unchanged, followed by `--copies` augmented copies; a copy applies one
/// enabled operation (in turn) and carries `augmented_from` (the source line) and `op`. Other fields are
/// copied unchanged. The output has the input's format.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm augment data/sms/train.jsonl --out data/sms/train.aug.jsonl --synonym 0.1 --swap 0.1 --copies 2
  slm augment datasets/banking77/train.csv --field text --out b77.aug.csv --delete 0.1 --insert 0.1 --seed 7")]
pub struct Args {
    /// Input file (.jsonl, .csv, .tsv or text).
    data: PathBuf,
    /// Output file; the format follows the input's.
    #[arg(long)]
    out: PathBuf,
    /// The text field to augment.
    #[arg(long, default_value = "text")]
    field: String,
    /// Share of words replaced by a synonym (0 = off).
    #[arg(long, default_value_t = 0.0)]
    synonym: f64,
    /// Share of words for which a synonym is inserted (0 = off).
    #[arg(long, default_value_t = 0.0)]
    insert: f64,
    /// Share of words swapped (0 = off).
    #[arg(long, default_value_t = 0.0)]
    swap: f64,
    /// Probability of deleting each word (0 = off).
    #[arg(long, default_value_t = 0.0)]
    delete: f64,
    /// Augmented copies per input record.
    #[arg(long, default_value_t = 1)]
    copies: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Synonym lexicon (`lemma<TAB>pos<TAB>syn1|syn2`, optionally .gz); default: the embedded WordNet 3.0.
    #[arg(long, value_name = "FILE")]
    synonyms: Option<PathBuf>,
    /// Write only the augmented copies, not the originals.
    #[arg(long)]
    no_originals: bool,
    /// Overwrite an existing output.
    #[arg(long)]
    force: bool,
    /// Also paraphrase by back-translation with this model directory (translated to --pivot and back).
    #[arg(long, value_name = "MODEL_DIR")]
    back_translate_with: Option<PathBuf>,
    /// Pivot language of back-translation (a code such as fr, de, zh, or a language name).
    #[arg(long, default_value = "fr")]
    pivot: String,
    /// The Burn backend that runs the back-translation model (ndarray and wgpu need the cargo features of
    /// those names).
    #[arg(long, value_enum, default_value_t)]
    backend: slm_model::Backend,
}

pub fn run(args: Args, given: &Given) -> Result<ExitCode, CliError> {
    if args.back_translate_with.is_none() {
        given.refuse(&["pivot", "backend"], "augment without --back-translate-with")?;
    }
    for (name, p) in
        [("--synonym", args.synonym), ("--insert", args.insert), ("--swap", args.swap), ("--delete", args.delete)]
    {
        if !(0.0..=1.0).contains(&p) {
            return Err(CliError::Usage(format!("{name} must be between 0 and 1, got {p}")));
        }
    }
    let needs_lexicon = args.synonym > 0.0 || args.insert > 0.0;
    if !needs_lexicon {
        given.refuse(&["synonyms"], "augment without --synonym or --insert")?;
    }
    let lexicon = match (&args.synonyms, needs_lexicon) {
        (_, false) => Arc::new(Lexicon::default()),
        (Some(path), true) => Arc::new(Lexicon::from_file(path)?),
        (None, true) => Arc::new(Lexicon::wordnet()),
    };
    let mut ops: Vec<Box<dyn TextOp>> = Vec::new();
    if args.synonym > 0.0 {
        ops.push(Box::new(Synonym { p: args.synonym, lexicon: lexicon.clone() }));
    }
    if args.insert > 0.0 {
        ops.push(Box::new(Insert { p: args.insert, lexicon }));
    }
    if args.swap > 0.0 {
        ops.push(Box::new(Swap { p: args.swap }));
    }
    if args.delete > 0.0 {
        ops.push(Box::new(Delete { p: args.delete }));
    }
    if let Some(dir) = &args.back_translate_with {
        let generator = slm_model::generate::Generator::load(dir, &args.backend.device()?)?;
        ops.push(Box::new(slm_model::generate::backtranslate::BackTranslate::new(generator, &args.pivot, "en")));
    }
    let opts = AugmentOptions {
        field: args.field,
        copies: args.copies,
        seed: args.seed,
        keep_originals: !args.no_originals,
        out: args.out,
        overwrite: args.force,
    };
    let s = augment_file(&args.data, &ops, &opts, &Bar::new())?;
    let failed = if s.failed > 0 { format!(", {} failed (see the warnings)", s.failed) } else { String::new() };
    eprintln!(
        "{} records in, {} augmented copies written to {} ({} copies skipped: nothing to change{failed})",
        s.inputs,
        s.augmented,
        opts.out.display(),
        s.unchanged
    );
    Ok(ExitCode::SUCCESS)
}
