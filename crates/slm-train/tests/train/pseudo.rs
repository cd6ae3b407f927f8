//! Pseudo-label selection against scikit-learn's `SelfTrainingClassifier` (one iteration, its threshold and
//! `k_best` rules) on fixed probability tables (testdata/pseudo/make_fixture.py): the same rows, the same
//! labels.

use slm_train::pseudo::{Pseudo, Selection};

#[test]
fn selection_equals_scikit_learn_self_training() {
    let path = slm_testkit::testdata("pseudo/sklearn_selection.json");
    let fixture: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 14);
    for case in cases {
        let probs: Vec<Vec<f64>> = serde_json::from_value(case["probs"].clone()).unwrap();
        let classes = probs[0].len();
        // The first of equal maxima, as numpy's argmax and slm's classifier.
        let predictions: Vec<Pseudo> = probs
            .iter()
            .map(|row| {
                let label = (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best });
                Pseudo { label, confidence: row[label] as f32 }
            })
            .collect();
        let rule = &case["rule"];
        let selection = match rule["criterion"].as_str().unwrap() {
            "threshold" => Selection { threshold: rule["threshold"].as_f64().unwrap() as f32, ..Selection::default() },
            _ => {
                Selection { threshold: 0.0, top_k: rule["k_best"].as_u64().map(|k| k as usize), ..Selection::default() }
            }
        };
        let selected = selection.select(&predictions, classes);
        let want: Vec<usize> = serde_json::from_value(case["selected"].clone()).unwrap();
        assert_eq!(selected.kept, want, "{rule}");
        let labels: Vec<usize> = selected.kept.iter().map(|&i| predictions[i].label).collect();
        let want: Vec<usize> = serde_json::from_value(case["labels"].clone()).unwrap();
        assert_eq!(labels, want, "{rule}");
    }
}
