//! Accuracy, precision/recall/F1 and the confusion matrix.

use std::path::Path;

use serde_json::json;
use slm_eval::EvalError;
use slm_eval::classify::report;
use slm_eval::segments::{read_jsonl_field, read_lines};

use super::{Args, Report, need};
use crate::CliError;

fn labels(path: &Path, field: &str) -> Result<Vec<String>, CliError> {
    let labels = if path.extension().is_some_and(|e| e == "jsonl") {
        read_jsonl_field(path, field)?
    } else {
        read_lines(path)?.into_iter().map(|l| l.trim().to_owned()).collect()
    };
    Ok(labels)
}

pub fn run(args: &Args) -> Result<Report, CliError> {
    let pred_path = need(&args.pred, "--pred FILE", args.metric.name())?;
    let gold_path = need(&args.gold, "--gold FILE", args.metric.name())?;
    let pred = labels(pred_path, &args.pred_field)?;
    let gold = labels(gold_path, &args.gold_field)?;
    if pred.len() != gold.len() {
        return Err(EvalError::LineCount {
            hyp: pred_path.clone(),
            hyp_lines: pred.len(),
            reference: gold_path.clone(),
            ref_lines: gold.len(),
        }
        .into());
    }
    let r = report(&pred, &gold);
    let per_class: serde_json::Map<String, serde_json::Value> = r
        .classes
        .iter()
        .map(|(l, c)| {
            (l.clone(), json!({"precision": c.precision, "recall": c.recall, "f1": c.f1, "support": c.support}))
        })
        .collect();
    let json = json!({
        "metric": args.metric.name(), "accuracy": r.accuracy, "macro_precision": r.macro_precision,
        "macro_recall": r.macro_recall, "macro_f1": r.macro_f1, "weighted_f1": r.weighted_f1,
        "classes": per_class, "confusion": {"labels": r.labels, "matrix": r.matrix},
    });
    let width = r.labels.iter().map(String::len).max().unwrap_or(5).max(9);
    let mut human =
        format!("accuracy {:.4}   macro F1 {:.4}   weighted F1 {:.4}\n\n", r.accuracy, r.macro_f1, r.weighted_f1);
    human += &format!("{:width$} {:>9} {:>9} {:>9} {:>8}\n", "class", "precision", "recall", "f1", "support");
    for (l, c) in &r.classes {
        human += &format!("{l:width$} {:>9.4} {:>9.4} {:>9.4} {:>8}\n", c.precision, c.recall, c.f1, c.support);
    }
    human += &format!("\nconfusion matrix (rows: gold, columns: predicted)\n{:width$}", "");
    for l in &r.labels {
        human += &format!(" {l:>w$}", w = l.len().max(6));
    }
    human.push('\n');
    for (g, row) in r.labels.iter().zip(&r.matrix) {
        human += &format!("{g:width$}");
        for (l, n) in r.labels.iter().zip(row) {
            human += &format!(" {n:>w$}", w = l.len().max(6));
        }
        human.push('\n');
    }
    Ok(Report { json, human })
}
