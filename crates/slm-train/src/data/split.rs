//! The train/validation split of a run: the recipe's validation file; the end of a single text document
//! (nanoGPT's split); or, for records, `slm split`'s own split — exact duplicates removed, near-duplicates
//! kept on one side, classes stratified — written to `RUN/split/`, so that a run shows what it trained
//! and validated on and one split policy serves the whole project.

use std::path::{Path, PathBuf};

use slm_data::progress::NoProgress;
use slm_data::split::{SplitOptions, split_file};

use super::records::{Record, Records, field_names, read_records};
use crate::error::Result;
use crate::recipe::{DataFormat, Recipe};

/// The records of a run's two sides, each with the file (and so the line numbers) it came from.
pub struct Split {
    /// Training records.
    pub train: Records,
    /// Validation records.
    pub val: Records,
    /// The file of the training records.
    pub train_path: PathBuf,
    /// The file of the validation records.
    pub val_path: PathBuf,
}

/// Splits the recipe's data (see the module documentation).
///
/// # Errors
/// Unreadable or malformed data, a record without a field its format needs, or a failed split.
pub fn split(recipe: &Recipe, run: &Path) -> Result<Split> {
    let d = &recipe.data;
    let train = read_records(&d.train, d)?;
    if let Some(val) = &d.val {
        let val_records = read_records(val, d)?;
        return Ok(Split { train, val: val_records, train_path: d.train.clone(), val_path: val.clone() });
    }
    if let [(_, Record::Text(text))] = train.as_slice() {
        let mut cut = ((1.0 - d.val_fraction) * text.len() as f64) as usize;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        let (a, b) = text.split_at(cut);
        return Ok(Split {
            train: vec![(1, Record::Text(a.to_owned()))],
            val: vec![(1, Record::Text(b.to_owned()))],
            train_path: d.train.clone(),
            val_path: d.train.clone(),
        });
    }
    let label = (d.format == DataFormat::Classification).then(|| d.label_field.clone());
    let text_fields = field_names(d).into_iter().filter(|f| Some(*f) != label.as_deref()).map(str::to_owned).collect();
    let opts = SplitOptions {
        ratio: 1.0 - d.val_fraction,
        seed: recipe.seed,
        stratify: label,
        text_fields: Some(text_fields),
        out_dir: run.join("split"),
        overwrite: true,
        ..SplitOptions::default()
    };
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| crate::TrainError::io(&opts.out_dir, e))?;
    let s = split_file(&d.train, &opts, &NoProgress)?;
    Ok(Split {
        train: read_records(&s.train_path, d)?,
        val: read_records(&s.val_path, d)?,
        train_path: s.train_path,
        val_path: s.val_path,
    })
}
