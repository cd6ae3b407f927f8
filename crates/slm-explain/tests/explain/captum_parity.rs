//! Occlusion (captum's FeatureAblation), input × gradient (LayerGradientXActivation on the embeddings),
//! integrated gradients (LayerIntegratedGradients, 32 Gauss–Legendre steps, pad-token baseline) and exact
//! Shapley values (ShapleyValues over all permutations) equal captum's to 1e-4, for every target token.

use burn::prelude::*;
use slm_explain::subject::{Subject, Target};
use slm_explain::tokens::{Method, explain};

#[test]
fn attributions_equal_captums() {
    let path = slm_testkit::testdata("hf/attribution_expected.json");
    let expected: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
    };
    for (name, case) in expected.as_object().unwrap() {
        let subject = Subject::load(&slm_testkit::testdata("hf").join(name).join("model"), &Device::flex()).unwrap();
        let text = case["text"].as_str().unwrap();
        let target = Target::Text(Some(case["target_text"].as_str().unwrap().to_owned()), 0);
        let methods = [
            ("occlusion", Method::Occlusion { window: 1 }),
            ("input-x-gradient", Method::InputXGradient),
            ("integrated-gradients", Method::IntegratedGradients { steps: 32 }),
            ("kernel-shap", Method::KernelShap { samples: 0, seed: 0 }),
        ];
        for (key, method) in methods {
            let got = explain(&subject, text, &target, &method).unwrap();
            assert_eq!(got.input_tokens.len(), case["ids"].as_array().unwrap().len(), "{name}: tokens");
            let scores: Vec<f32> = got.targets.iter().map(|(_, s)| *s).collect();
            let close = |a: &[f32], b: &[f32], what: &str| {
                assert_eq!(a.len(), b.len(), "{name} {key}: {what}");
                for (x, y) in a.iter().zip(b) {
                    assert!((x - y).abs() < 1e-4, "{name} {key} {what}: {a:?} vs captum {b:?}");
                }
            };
            close(&scores, &floats(&case["scores"]), "scores");
            close(&got.baseline_score, &floats(&case["baseline_scores"]), "baseline scores");
            let want = case["attributions"][key].as_array().unwrap();
            assert_eq!(got.attributions.len(), want.len(), "{name} {key}: one row per target token");
            for (j, (row, want)) in got.attributions.iter().zip(want).enumerate() {
                close(row, &floats(want), &format!("target {j}"));
            }
            if key == "kernel-shap" {
                assert_eq!(got.exact, Some(true));
                for (j, row) in got.attributions.iter().enumerate() {
                    let total = got.targets[j].1 - got.baseline_score[j];
                    assert!((row.iter().sum::<f32>() - total).abs() < 1e-5, "{name}: Shapley completeness");
                }
            }
        }
    }
}
