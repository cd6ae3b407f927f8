//! `slm augment`: Easy Data Augmentation (Wei & Zou, 2019) on one text field: synonym replacement from
//! WordNet, random insertion of a synonym, random swap and random deletion.
//!
//! Each operation is a [`TextOp`]; an augmented copy applies one operation, chosen in turn among those
//! enabled, so `--copies 4` with all four on gives one copy per operation. Back-translation through a
//! model (the generation crate) plugs in as another [`TextOp`].

mod eda;
mod lexicon;

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

pub use eda::{Delete, Insert, Swap, Synonym};
pub use lexicon::Lexicon;

use crate::error::{DataError, Result};
use crate::progress::Progress;
use crate::records::{Reader, Writer, ensure_distinct};

/// One way to rewrite a text.
pub trait TextOp {
    /// The name recorded in each output's `op` field.
    fn name(&self) -> &'static str;
    /// Rewrites `text`; `Ok(None)` when the operation cannot change it (no word has a synonym, ...),
    /// `Err` with a sentence when it failed (a model that could not translate the text).
    ///
    /// # Errors
    /// The operation failed on this text; the copy is skipped with a warning.
    fn apply(&self, text: &str, rng: &mut ChaCha8Rng) -> std::result::Result<Option<String>, String>;
}

/// Options of `slm augment`.
pub struct AugmentOptions {
    /// The field to rewrite.
    pub field: String,
    /// Augmented copies per input record.
    pub copies: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Also write each original record before its copies.
    pub keep_originals: bool,
    /// Output file; its format follows the input's.
    pub out: PathBuf,
    /// Replace an existing output.
    pub overwrite: bool,
}

/// What an augmentation run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AugmentSummary {
    /// Input records.
    pub inputs: u64,
    /// Augmented records written.
    pub augmented: u64,
    /// Copies skipped because the operation could not change the text (or happened to leave it as it was).
    pub unchanged: u64,
    /// Copies skipped because the operation failed (each with a warning).
    pub failed: u64,
}

/// Writes `opts.copies` augmented copies of each record of `input`, each with the fields
/// `augmented_from` (the source's line number) and `op`; every other field is copied unchanged.
///
/// # Errors
/// No operation enabled, a malformed input, a record without the field, an output that exists.
pub fn augment_file(
    input: &Path,
    ops: &[Box<dyn TextOp>],
    opts: &AugmentOptions,
    progress: &dyn Progress,
) -> Result<AugmentSummary> {
    if ops.is_empty() {
        return Err(DataError::Usage(
            "no augmentation enabled; set at least one of --synonym, --insert, --swap, --delete above 0, or --back-translate-with".into(),
        ));
    }
    ensure_distinct(&opts.out, &[input])?;
    let mut reader = Reader::open(input)?;
    let mut columns: Vec<String> = reader.header().map(<[String]>::to_vec).unwrap_or_default();
    columns.extend(["augmented_from".to_owned(), "op".to_owned()]);
    let mut writer = Writer::create(&opts.out, reader.format(), columns, opts.overwrite)?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut summary = AugmentSummary { inputs: 0, augmented: 0, unchanged: 0, failed: 0 };
    progress.stage("augmenting", None);
    let mut turn = 0;
    for record in reader.by_ref() {
        let record = record?;
        let text = match record.fields.get(&opts.field) {
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(DataError::BadField {
                    path: input.to_owned(),
                    line: record.line,
                    field: opts.field.clone(),
                    problem: "must be a string".into(),
                });
            }
            None => {
                return Err(DataError::MissingField {
                    path: input.to_owned(),
                    line: record.line,
                    field: opts.field.clone(),
                });
            }
        };
        summary.inputs += 1;
        if opts.keep_originals {
            writer.write(&record.fields)?;
        }
        for _ in 0..opts.copies {
            let op = &ops[turn % ops.len()];
            turn += 1;
            let new_text = match op.apply(&text, &mut rng) {
                Ok(Some(t)) if t != text => t,
                Ok(_) => {
                    summary.unchanged += 1;
                    continue;
                }
                Err(problem) => {
                    progress.warn(&format!(
                        "{}: line {}: {} failed, the copy is skipped: {problem}",
                        input.display(),
                        record.line,
                        op.name()
                    ));
                    summary.failed += 1;
                    continue;
                }
            };
            let mut fields = record.fields.clone();
            fields.insert(opts.field.clone(), Value::String(new_text));
            fields.insert("augmented_from".into(), record.line.into());
            fields.insert("op".into(), op.name().into());
            writer.write(&fields)?;
            summary.augmented += 1;
        }
        progress.advance(1);
    }
    writer.commit()?;
    Ok(summary)
}
