//! Which pseudo-labels to keep: the selection of self-training (scikit-learn's `SelfTrainingClassifier`
//! for the threshold and `k_best` rules, tested against it), with per-class caps and class balance so that a
//! majority class cannot swamp the rest.
//!
//! In order: keep predictions whose confidence is above the threshold (strictly, as scikit-learn); of
//! those, the `top_k` most confident overall; then at most `top_k_per_class` per predicted class; then, with
//! `balance`, as many per class as the rarest class has. Ties go to the earlier record.

/// One prediction to select from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pseudo {
    /// Predicted class.
    pub label: usize,
    /// Its probability.
    pub confidence: f32,
}

/// The selection rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// Keep confidences above this (in (0, 1]).
    pub threshold: f32,
    /// Then at most this many, the most confident overall (scikit-learn's `k_best`).
    pub top_k: Option<usize>,
    /// Then at most this many per predicted class, the most confident.
    pub top_k_per_class: Option<usize>,
    /// Then the same number for every class: the smallest class count.
    pub balance: bool,
}

/// What a selection kept and why the rest went.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selected {
    /// Indices of the kept predictions, ascending.
    pub kept: Vec<usize>,
    /// Kept per class.
    pub per_class: Vec<usize>,
    /// Dropped for a confidence at or below the threshold.
    pub below_threshold: usize,
    /// Dropped by `top_k`, `top_k_per_class` or `balance`.
    pub capped: usize,
}

impl Selection {
    /// Checks the settings.
    ///
    /// # Errors
    /// A threshold outside (0, 1] or a cap of 0, as a sentence naming the flag.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(format!("--threshold must be in (0, 1], got {}", self.threshold));
        }
        for (flag, cap) in [("--top-k", self.top_k), ("--top-k-per-class", self.top_k_per_class)] {
            if cap == Some(0) {
                return Err(format!("{flag} must be at least 1"));
            }
        }
        Ok(())
    }

    /// Selects among `predictions` of a model with `classes` classes.
    pub fn select(&self, predictions: &[Pseudo], classes: usize) -> Selected {
        let mut kept: Vec<usize> =
            (0..predictions.len()).filter(|&i| predictions[i].confidence > self.threshold).collect();
        let below_threshold = predictions.len() - kept.len();
        // Most confident first; ties to the earlier record.
        let by_confidence =
            |a: &usize, b: &usize| predictions[*b].confidence.total_cmp(&predictions[*a].confidence).then(a.cmp(b));
        if let Some(k) = self.top_k {
            kept.sort_by(by_confidence);
            kept.truncate(k);
        }
        let mut per_class_cap = self.top_k_per_class.unwrap_or(usize::MAX);
        if self.balance {
            let mut counts = vec![0usize; classes];
            kept.iter().for_each(|&i| counts[predictions[i].label] += 1);
            per_class_cap = per_class_cap.min(counts.into_iter().min().unwrap_or(0));
        }
        if per_class_cap < usize::MAX {
            kept.sort_by(by_confidence);
            let mut taken = vec![0usize; classes];
            kept.retain(|&i| {
                let c = &mut taken[predictions[i].label];
                *c += 1;
                *c <= per_class_cap
            });
        }
        kept.sort_unstable();
        let mut per_class = vec![0usize; classes];
        kept.iter().for_each(|&i| per_class[predictions[i].label] += 1);
        let capped = predictions.len() - below_threshold - kept.len();
        Selected { kept, per_class, below_threshold, capped }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(label: usize, confidence: f32) -> Pseudo {
        Pseudo { label, confidence }
    }

    #[test]
    fn caps_per_class_and_balance_keep_the_most_confident_and_ties_go_to_the_earlier() {
        let preds = [p(0, 0.99), p(0, 0.95), p(0, 0.95), p(1, 0.97), p(0, 0.5), p(1, 0.91), p(0, 0.98)];
        let rule = Selection { threshold: 0.9, ..Selection::default() };
        let s = rule.select(&preds, 2);
        assert_eq!((s.kept.clone(), s.below_threshold, s.capped), (vec![0, 1, 2, 3, 5, 6], 1, 0));
        let s = Selection { top_k_per_class: Some(2), ..rule.clone() }.select(&preds, 2);
        assert_eq!(s.kept, vec![0, 3, 5, 6]);
        let s = Selection { top_k_per_class: Some(3), ..rule.clone() }.select(&preds, 2);
        assert_eq!(s.kept, vec![0, 1, 3, 5, 6], "of the two 0.95s the earlier stays");
        let s = Selection { balance: true, ..rule.clone() }.select(&preds, 2);
        assert_eq!((s.kept, s.per_class, s.capped), (vec![0, 3, 5, 6], vec![2, 2], 2));
        // A class with no confident prediction: balance keeps none.
        let s = Selection { balance: true, ..rule.clone() }.select(&preds, 3);
        assert!(s.kept.is_empty());
        assert!(Selection { threshold: 0.0, ..rule.clone() }.validate().is_err());
        assert!(Selection { threshold: 1.0, ..rule.clone() }.validate().is_ok());
        assert!(Selection { top_k: Some(0), ..rule }.validate().unwrap_err().contains("--top-k"));
    }
}
