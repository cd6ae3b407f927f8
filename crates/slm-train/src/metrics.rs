//! `RUN/metrics.csv`: one row per logged training step and per evaluation, flushed as it is written so
//! that a crash or `slm plot` mid-run sees every row so far.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, TrainError};

/// The columns, in order.
pub const COLUMNS: [&str; 12] = [
    "step",
    "epoch",
    "split",
    "loss",
    "perplexity",
    "lr",
    "grad_norm",
    "tokens_per_s",
    "elapsed_s",
    "accuracy",
    "macro_f1",
    "rouge_l",
];

/// One row; absent values are empty cells.
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// Optimizer step.
    pub step: u64,
    /// Epochs done (fractional).
    pub epoch: f64,
    /// `train` or `val`.
    pub split: &'static str,
    /// Mean loss per target token (or per example for classification).
    pub loss: f64,
    /// Learning rate of the step.
    pub lr: Option<f64>,
    /// Global gradient norm before clipping.
    pub grad_norm: Option<f64>,
    /// Training throughput.
    pub tokens_per_s: Option<f64>,
    /// Seconds since the run began (resumes included).
    pub elapsed_s: f64,
    /// Classification accuracy (val).
    pub accuracy: Option<f64>,
    /// Classification macro-F1 (val).
    pub macro_f1: Option<f64>,
    /// ROUGE-L F-measure of generations on validation examples (val).
    pub rouge_l: Option<f64>,
}

impl Row {
    /// The row of a training step.
    pub fn train(log: &crate::observer::StepLog, elapsed_s: f64) -> Row {
        Row {
            step: log.step,
            epoch: log.epoch,
            split: "train",
            loss: log.loss,
            lr: Some(log.lr),
            grad_norm: Some(log.grad_norm),
            tokens_per_s: Some(log.tokens_per_s),
            elapsed_s,
            ..Row::default()
        }
    }
}

/// An append-only metrics file.
pub struct Metrics {
    path: PathBuf,
    file: std::fs::File,
}

fn cell(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v}"))
}

impl Metrics {
    /// Opens `RUN/metrics.csv`: a new run writes the header; a resumed run drops rows after `step` (logged
    /// after the checkpoint it resumes from) and appends.
    ///
    /// # Errors
    /// The file cannot be read or written.
    pub fn open(run: &Path, resume_from: Option<u64>) -> Result<Metrics> {
        let path = run.join("metrics.csv");
        let mut kept = COLUMNS.join(",") + "\n";
        if let Some(step) = resume_from {
            // The history of the run so far; a resumed run without one starts a new history.
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(TrainError::io(&path, e)),
            };
            for (i, line) in text.lines().enumerate().skip(1) {
                let row_step: u64 =
                    line.split(',').next().and_then(|s| s.parse().ok()).ok_or_else(|| TrainError::Data {
                        path: path.clone(),
                        problem: format!("line {}: not a row of metrics.csv (it does not start with a step)", i + 1),
                    })?;
                if row_step <= step {
                    kept.push_str(line);
                    kept.push('\n');
                }
            }
        }
        std::fs::write(&path, kept).map_err(|e| TrainError::io(&path, e))?;
        let file = std::fs::OpenOptions::new().append(true).open(&path).map_err(|e| TrainError::io(&path, e))?;
        Ok(Metrics { path, file })
    }

    /// Appends a row.
    ///
    /// # Errors
    /// The write fails.
    pub fn write(&mut self, r: &Row) -> Result<()> {
        let line = format!(
            "{},{:.4},{},{},{},{},{},{},{:.3},{},{},{}\n",
            r.step,
            r.epoch,
            r.split,
            r.loss,
            r.loss.exp(),
            cell(r.lr),
            cell(r.grad_norm),
            cell(r.tokens_per_s.map(|t| t.round())),
            r.elapsed_s,
            cell(r.accuracy),
            cell(r.macro_f1),
            cell(r.rouge_l),
        );
        self.file.write_all(line.as_bytes()).map_err(|e| TrainError::io(&self.path, e))
    }
}
