//! The regression gate: compare every score of a metrics JSON object with a baseline and fail when one
//! drops by more than the tolerance. Scores are the numeric leaves of the object, named by their path
//! (`score`, `rouge1.fmeasure`, `pass@1`); counts and lengths that are not scores are skipped. Every
//! score slm reports is higher-is-better except perplexity and nll, which must not rise.

use serde_json::Value;

/// How much a score may worsen before the gate fails.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// An absolute amount on the metric's own scale.
    Absolute(f64),
    /// A percentage of the baseline value.
    Percent(f64),
}

/// One compared score.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Its path in the JSON object.
    pub name: String,
    /// Baseline value.
    pub baseline: f64,
    /// Current value.
    pub now: f64,
    /// `now - baseline`.
    pub delta: f64,
    /// Whether the change is a regression beyond the tolerance.
    pub regressed: bool,
}

const NOT_SCORES: [&str; 10] =
    ["counts", "totals", "sys_len", "ref_len", "tokens", "problems", "samples", "support", "matrix", "bp"];

fn leaves(prefix: &str, v: &Value, out: &mut Vec<(String, f64)>) {
    match v {
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                out.push((prefix.to_owned(), x));
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                if NOT_SCORES.contains(&k.as_str()) {
                    continue;
                }
                let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                leaves(&name, v, out);
            }
        }
        _ => {}
    }
}

fn lower_is_better(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    matches!(last, "perplexity" | "nll")
}

/// Compares every score present in both objects.
pub fn compare(baseline: &Value, now: &Value, tol: Tolerance) -> Vec<Comparison> {
    let (mut b, mut n) = (Vec::new(), Vec::new());
    leaves("", baseline, &mut b);
    leaves("", now, &mut n);
    b.into_iter()
        .filter_map(|(name, base)| {
            let cur = n.iter().find(|(m, _)| *m == name)?.1;
            let allowed = match tol {
                Tolerance::Absolute(t) => t,
                Tolerance::Percent(p) => base.abs() * p / 100.0,
            };
            let worse = if lower_is_better(&name) { cur - base } else { base - cur };
            Some(Comparison { name, baseline: base, now: cur, delta: cur - base, regressed: worse > allowed + 1e-12 })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_beyond_tolerance_fail() {
        let base = json!({"metric":"bleu","score":30.0,"counts":[1,2,3,4],"sys_len":10});
        let now = json!({"metric":"bleu","score":29.6,"counts":[0,0,0,0],"sys_len":3});
        let c = compare(&base, &now, Tolerance::Absolute(0.5));
        assert_eq!(c.len(), 1);
        assert!(!c[0].regressed);
        assert!(compare(&base, &now, Tolerance::Absolute(0.3))[0].regressed);
        assert!(compare(&base, &now, Tolerance::Percent(1.0))[0].regressed);
        assert!(!compare(&base, &now, Tolerance::Percent(2.0))[0].regressed);
    }

    #[test]
    fn nested_scores_and_lower_is_better() {
        let base = json!({"rouge1":{"fmeasure":0.40},"perplexity":10.0});
        let now = json!({"rouge1":{"fmeasure":0.41},"perplexity":11.0});
        let c = compare(&base, &now, Tolerance::Absolute(0.5));
        let by: std::collections::HashMap<_, _> = c.iter().map(|c| (c.name.as_str(), c.regressed)).collect();
        assert!(!by["rouge1.fmeasure"]);
        assert!(by["perplexity"]);
    }
}
