//! The regression gate: compare every score of a metrics JSON object with a baseline and fail when one
//! worsens by more than the tolerance, or cannot be compared.
//!
//! Only score fields take part, each with its direction: what `slm eval --json` reports as a quality
//! (`score`, `rouge1.fmeasure`, `pass@1`, `macro_f1`, ...) must not fall; perplexity, negative
//! log-likelihood, KL divergence and code complexity must not rise. Counts, lengths, settings and other
//! numbers (`segments`, `window`, `stride`, `parsed`, `support`, ...) are never compared. A score of the
//! baseline that the run lacks, or that is not a finite number in either (NaN and infinity become `null` in
//! JSON), fails the gate: a broken run can never pass.

use serde_json::Value;

/// How much a score may worsen before the gate fails.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// An absolute amount on the metric's own scale.
    Absolute(f64),
    /// A percentage of the baseline value.
    Percent(f64),
}

/// Which way a score improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Accuracy, BLEU, ROUGE, pass@k, F1, ...
    HigherIsBetter,
    /// Perplexity, loss, KL divergence, complexity.
    LowerIsBetter,
}

/// The outcome for one score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Status {
    /// Within the tolerance (or better).
    Passed,
    /// Worse by more than the tolerance.
    Regressed,
    /// The baseline has the score, this run does not.
    Missing,
    /// The score is NaN or infinite (in the baseline or in this run).
    NotFinite,
}

/// One compared score.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Its path in the JSON object.
    pub name: String,
    /// Which way it improves.
    pub direction: Direction,
    /// Baseline value (`None`: not a finite number).
    pub baseline: Option<f64>,
    /// Current value (`None`: missing or not a finite number).
    pub now: Option<f64>,
    /// The verdict.
    pub status: Status,
}

impl Comparison {
    /// `now - baseline`, when both are numbers.
    pub fn delta(&self) -> Option<f64> {
        Some(self.now? - self.baseline?)
    }

    /// Why this score fails the gate, as a sentence; `None` when it passes.
    pub fn problem(&self) -> Option<String> {
        let name = &self.name;
        match self.status {
            Status::Passed => None,
            Status::Regressed => Some(format!(
                "`{name}` {} from {} to {}, beyond the tolerance",
                if self.direction == Direction::HigherIsBetter { "fell" } else { "rose" },
                self.baseline.unwrap_or(f64::NAN),
                self.now.unwrap_or(f64::NAN)
            )),
            Status::Missing => Some(format!("`{name}` of the baseline is missing from this run")),
            Status::NotFinite if self.baseline.is_none() => {
                Some(format!("`{name}` is not a finite number in the baseline"))
            }
            Status::NotFinite => Some(format!("`{name}` is not a finite number in this run (NaN or infinite)")),
        }
    }
}

/// Score fields (last path segment) that improve upward or downward; any other field is not a score.
fn direction_of(field: &str) -> Option<Direction> {
    match field {
        "perplexity" | "nll" | "loss" | "kl_from_reference" | "mean" | "max" => Some(Direction::LowerIsBetter),
        "score" | "precision" | "recall" | "fmeasure" | "f1" | "accuracy" | "macro_precision" | "macro_recall"
        | "macro_f1" | "weighted_f1" => Some(Direction::HigherIsBetter),
        _ if field.starts_with("pass@") => Some(Direction::HigherIsBetter),
        _ => None,
    }
}

/// The score fields of a metrics object, by path (`rouge1.fmeasure`, `classes.spam.f1`), with their values
/// (`None` for `null`: NaN or infinity) and directions. Arrays (per-segment scores, counts) are not scores.
pub fn scores(v: &Value) -> Vec<(String, Option<f64>, Direction)> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, Option<f64>, Direction)>) {
        let Value::Object(map) = v else { return };
        for (k, v) in map {
            let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                // The confusion matrix and other nested tables hold counts, never scores.
                Value::Object(_) if k != "confusion" => walk(&name, v, out),
                Value::Number(n) => {
                    if let Some(d) = direction_of(k) {
                        out.push((name, n.as_f64().filter(|x| x.is_finite()), d));
                    }
                }
                Value::Null => {
                    if let Some(d) = direction_of(k) {
                        out.push((name, None, d));
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    out
}

/// Compares every score of `baseline` with the same score of `now`.
pub fn compare(baseline: &Value, now: &Value, tol: Tolerance) -> Vec<Comparison> {
    let current = scores(now);
    scores(baseline)
        .into_iter()
        .map(|(name, base, direction)| {
            let cur = current.iter().find(|(n, _, _)| *n == name);
            let (now, status) = match (base, cur) {
                (_, None) => (None, Status::Missing),
                (None, Some((_, now, _))) => (*now, Status::NotFinite),
                (Some(_), Some((_, None, _))) => (None, Status::NotFinite),
                (Some(base), Some((_, Some(now), _))) => {
                    let allowed = match tol {
                        Tolerance::Absolute(t) => t,
                        Tolerance::Percent(p) => base.abs() * p / 100.0,
                    };
                    let worse = match direction {
                        Direction::LowerIsBetter => now - base,
                        Direction::HigherIsBetter => base - now,
                    };
                    (Some(*now), if worse > allowed + 1e-12 { Status::Regressed } else { Status::Passed })
                }
            };
            Comparison { name, direction, baseline: base, now, status }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn by_name(c: &[Comparison]) -> std::collections::HashMap<&str, Status> {
        c.iter().map(|c| (c.name.as_str(), c.status)).collect()
    }

    #[test]
    fn drops_beyond_tolerance_fail() {
        let base = json!({"metric":"bleu","score":30.0,"counts":[1,2,3,4],"sys_len":10,"bp":1.0});
        let now = json!({"metric":"bleu","score":29.6,"counts":[0,0,0,0],"sys_len":3,"bp":0.5});
        let c = compare(&base, &now, Tolerance::Absolute(0.5));
        assert_eq!(c.len(), 1, "only the score is compared: {c:?}");
        assert_eq!(c[0].status, Status::Passed);
        assert_eq!(compare(&base, &now, Tolerance::Absolute(0.3))[0].status, Status::Regressed);
        assert_eq!(compare(&base, &now, Tolerance::Percent(1.0))[0].status, Status::Regressed);
        assert_eq!(compare(&base, &now, Tolerance::Percent(2.0))[0].status, Status::Passed);
    }

    #[test]
    fn every_metric_has_its_direction() {
        let base = json!({"rouge1":{"fmeasure":0.40},"perplexity":10.0,"nll":2.3,"kl_from_reference":0.01});
        let now = json!({"rouge1":{"fmeasure":0.41},"perplexity":11.0,"nll":2.2,"kl_from_reference":0.02});
        let c = compare(&base, &now, Tolerance::Absolute(0.005));
        let s = by_name(&c);
        assert_eq!(s["rouge1.fmeasure"], Status::Passed);
        assert_eq!(s["perplexity"], Status::Regressed);
        assert_eq!(s["nll"], Status::Passed);
        assert_eq!(s["kl_from_reference"], Status::Regressed);
        // Complexity: a simpler program is better.
        let c = compare(
            &json!({"metric":"complexity","mean":3.0,"max":9.0,"parsed":100}),
            &json!({"metric":"complexity","mean":2.5,"max":12.0,"parsed":3}),
            Tolerance::Absolute(0.0),
        );
        let s = by_name(&c);
        assert_eq!((s["mean"], s["max"], s.len()), (Status::Passed, Status::Regressed, 2));
    }

    #[test]
    fn settings_and_counts_are_not_scores() {
        let base = json!({"metric":"perplexity","perplexity":10.0,"window":512,"stride":256,"tokens":9000,"texts":5});
        let now = json!({"metric":"perplexity","perplexity":10.0,"window":64,"stride":32,"tokens":10,"texts":1});
        assert_eq!(compare(&base, &now, Tolerance::Absolute(0.0)).len(), 1);
        let base = json!({"metric":"rouge","segments":100,"rouge1":{"precision":0.3,"recall":0.2,"fmeasure":0.25}});
        let now = json!({"metric":"rouge","segments":1,"rouge1":{"precision":0.3,"recall":0.2,"fmeasure":0.25}});
        assert!(compare(&base, &now, Tolerance::Absolute(0.0)).iter().all(|c| c.status == Status::Passed));
        let f1 = json!({"metric":"f1","macro_f1":0.9,"classes":{"spam":{"f1":0.8,"support":12}},
                         "confusion":{"labels":["ham","spam"],"matrix":[[1,2],[3,4]]}});
        let names: Vec<String> = scores(&f1).into_iter().map(|s| s.0).collect();
        assert_eq!(names, ["macro_f1", "classes.spam.f1"]);
    }

    #[test]
    fn nan_infinite_and_missing_scores_fail() {
        let base = json!({"metric":"perplexity","perplexity":10.0,"nll":2.3});
        // NaN and infinity serialize as null.
        let c = compare(&base, &json!({"metric":"perplexity","perplexity":null,"nll":2.3}), Tolerance::Absolute(1e9));
        let s = by_name(&c);
        assert_eq!((s["perplexity"], s["nll"]), (Status::NotFinite, Status::Passed));
        assert!(c[0].problem().unwrap().contains("`perplexity` is not a finite number in this run"));
        let c = compare(&base, &json!({"metric":"perplexity","nll":2.3}), Tolerance::Absolute(1e9));
        assert_eq!(by_name(&c)["perplexity"], Status::Missing);
        assert_eq!(c[0].problem().unwrap(), "`perplexity` of the baseline is missing from this run");
        let c = compare(&json!({"perplexity":null}), &json!({"perplexity":3.0}), Tolerance::Absolute(0.0));
        assert_eq!(c[0].problem().unwrap(), "`perplexity` is not a finite number in the baseline");
    }
}
