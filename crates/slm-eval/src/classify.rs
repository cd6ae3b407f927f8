//! Classification metrics: accuracy, per-class precision/recall/F1 with support, macro and weighted
//! averages, and the confusion matrix. Conventions follow scikit-learn: the labels are the union of gold
//! and predicted labels (sorted), and a ratio with a zero denominator is 0.

use std::collections::BTreeMap;

/// Scores of one class.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ClassScore {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
    /// Gold examples of the class.
    pub support: u64,
}

/// The report of `slm eval --metric accuracy|f1`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassReport {
    /// Share of exact matches.
    pub accuracy: f64,
    /// Unweighted mean of per-class precision.
    pub macro_precision: f64,
    /// Unweighted mean of per-class recall.
    pub macro_recall: f64,
    /// Unweighted mean of per-class F1.
    pub macro_f1: f64,
    /// Support-weighted mean of per-class F1.
    pub weighted_f1: f64,
    /// Per-class scores, by label.
    pub classes: BTreeMap<String, ClassScore>,
    /// The labels, in matrix order.
    pub labels: Vec<String>,
    /// `matrix[g][p]`: examples of gold label g predicted as p.
    pub matrix: Vec<Vec<u64>>,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Scores predictions against gold labels.
///
/// # Panics
/// If the slices differ in length (the caller checks and reports it).
pub fn report(pred: &[String], gold: &[String]) -> ClassReport {
    assert_eq!(pred.len(), gold.len(), "one prediction per gold label");
    let mut labels: Vec<String> = pred.iter().chain(gold).cloned().collect();
    labels.sort();
    labels.dedup();
    let index: BTreeMap<&str, usize> = labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    let k = labels.len();
    let mut matrix = vec![vec![0u64; k]; k];
    for (p, g) in pred.iter().zip(gold) {
        matrix[index[g.as_str()]][index[p.as_str()]] += 1;
    }
    let mut classes = BTreeMap::new();
    let (mut mp, mut mr, mut mf, mut wf) = (0.0, 0.0, 0.0, 0.0);
    for (i, label) in labels.iter().enumerate() {
        let tp = matrix[i][i];
        let predicted: u64 = (0..k).map(|g| matrix[g][i]).sum();
        let support: u64 = matrix[i].iter().sum();
        let precision = ratio(tp, predicted);
        let recall = ratio(tp, support);
        let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        mp += precision;
        mr += recall;
        mf += f1;
        wf += f1 * support as f64;
        classes.insert(label.clone(), ClassScore { precision, recall, f1, support });
    }
    let correct: u64 = (0..k).map(|i| matrix[i][i]).sum();
    let kf = k.max(1) as f64;
    ClassReport {
        accuracy: ratio(correct, gold.len() as u64),
        macro_precision: mp / kf,
        macro_recall: mr / kf,
        macro_f1: mf / kf,
        weighted_f1: wf / gold.len().max(1) as f64,
        classes,
        labels,
        matrix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn matches_scikit_learn() {
        // sklearn.metrics.classification_report(gold, pred) on this data:
        // ham p=0.75 r=1.0 f1=0.857143; spam p=1.0 r=0.5 f1=0.666667; accuracy 0.8;
        // macro f1 0.761905; weighted f1 0.780952.
        let gold = s(&["ham", "ham", "ham", "spam", "spam"]);
        let pred = s(&["ham", "ham", "ham", "ham", "spam"]);
        let r = report(&pred, &gold);
        assert!((r.accuracy - 0.8).abs() < 1e-12);
        assert!((r.classes["ham"].f1 - 6.0 / 7.0).abs() < 1e-12);
        assert!((r.macro_f1 - (6.0 / 7.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert!((r.weighted_f1 - (3.0 * 6.0 / 7.0 + 2.0 * 2.0 / 3.0) / 5.0).abs() < 1e-12);
        assert_eq!(r.matrix, vec![vec![3, 0], vec![1, 1]]);
    }

    #[test]
    fn a_label_only_predicted_counts_with_zero_support() {
        let r = report(&s(&["a", "c"]), &s(&["a", "b"]));
        assert_eq!(r.labels, ["a", "b", "c"]);
        assert_eq!(r.classes["c"].support, 0);
        assert_eq!(r.classes["b"].recall, 0.0);
    }
}
