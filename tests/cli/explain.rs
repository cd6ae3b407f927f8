//! `slm explain` end to end on the tiny Llama fixture: the attention outputs (JSON, PNG, HTML), the HTML
//! loaded offline in a real headless browser (Debian's `chromium`), many texts, and bad input.

use std::path::Path;
use std::process::Command;

use crate::util::*;

fn llama() -> String {
    slm_testkit::testdata("hf/llama/model").display().to_string()
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The page after its script ran, as headless Chromium serialises it (offline: file:// only).
fn browser_dom(page: &Path, profile: &Path) -> (String, String) {
    let chromium = std::env::var("SLM_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let o = Command::new(&chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("{chromium}: {e} (install Debian's chromium; .ci/run does)"));
    assert!(o.status.success(), "{}", stderr(&o));
    (stdout(&o), stderr(&o))
}

#[test]
fn attention_maps_json_png_and_an_offline_page() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("att");
    let text = "KING:\nO, speak!";
    let o = slm(&["explain", "attention", "--model", &llama(), "--text", text, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut files = ls(&out);
    files.sort();
    assert_eq!(files, ["attention.html", "attention.json", "layer_00.png", "layer_01.png", "rollout.png"]);
    for png in ["layer_00.png", "layer_01.png", "rollout.png"] {
        assert!(std::fs::read(out.join(png)).unwrap().starts_with(b"\x89PNG\r\n\x1a\n"), "{png}");
    }
    let v = read_json(&out.join("attention.json"));
    let t = v["tokens"].as_array().unwrap().len();
    assert_eq!((t, v["layers"].as_u64(), v["heads"].as_u64()), (text.chars().count(), Some(2), Some(4)));
    let rows = |m: &serde_json::Value| -> Vec<Vec<f64>> {
        m.as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect())
            .collect()
    };
    for layer in v["attention"].as_array().unwrap() {
        for head in layer.as_array().unwrap() {
            let m = rows(head);
            assert_eq!(m.len(), t);
            for (q, row) in m.iter().enumerate() {
                assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-5);
                assert!(row[q + 1..].iter().all(|&x| x == 0.0), "causal: nothing above the diagonal");
            }
        }
    }
    for row in rows(&v["rollout"]) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-4);
    }

    // The page in a real browser, offline: the script ran without an error and drew both views.
    let html = std::fs::read_to_string(out.join("attention.html")).unwrap();
    assert!(!html.contains("http://") || html.matches("http://").all(|_| html.contains("http://www.w3.org/2000/svg")));
    assert!(!html.contains("https://") && !html.contains("src="), "the page loads nothing");
    let (dom, log) = browser_dom(&out.join("attention.html"), &tmp.path().join("profile"));
    assert!(dom.contains("data-status=\"ok\""), "the page's script failed: {}\n{log}", &dom[..dom.len().min(400)]);
    assert!(!log.contains("Uncaught"), "{log}");
    assert!(dom.matches("<line").count() >= t, "the head view has its lines");
    assert_eq!(dom.matches("<td").count(), t * t, "the heatmap has a cell per query and key");
    assert!(dom.contains(">speak<") || dom.contains(">s<"), "the tokens are shown");
}

#[test]
fn attention_of_many_texts_and_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("texts.jsonl");
    std::fs::write(&input, "{\"prompt\": \"ROMEO:\"}\n{\"prompt\": \"O, speak.\"}\n").unwrap();
    let out = tmp.path().join("many");
    let o = slm(&[
        "explain",
        "attention",
        "--model",
        &llama(),
        "--input",
        input.to_str().unwrap(),
        "--field",
        "prompt",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(ls(&out), ["0001", "0002"]);
    assert_eq!(read_json(&out.join("0002/attention.json"))["tokens"].as_array().unwrap().len(), 9);

    let o = slm(&["explain", "attention", "--model", &llama(), "--text", "x", "--out", out.to_str().unwrap()]);
    assert_bad_input(&o, &["already exists", "--force"]);
    let (fresh, model) = (tmp.path().join("fresh"), llama());
    let run = |args: &[&str]| {
        let mut all = vec!["explain", "attention", "--model", &model, "--out", fresh.to_str().unwrap()];
        all.extend_from_slice(args);
        slm(&all)
    };
    assert_bad_input(&run(&["--text", ""]), &["tokenizes to nothing"]);
    assert_bad_input(&run(&["--text", &"a".repeat(65)]), &["65 tokens", "context is 64"]);
    assert_bad_input(&run(&["--text", "a", "--field", "x"]), &["--field"]);
    std::fs::write(&input, "{\"prompt\": \"ROMEO:\"}\n{\"other\": 1}\n").unwrap();
    assert_bad_input(&run(&["--input", input.to_str().unwrap(), "--field", "prompt"]), &["texts.jsonl:2", "prompt"]);
    assert!(!fresh.exists(), "a failed run leaves no output");
}

fn tokens_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["explain", "tokens", "--json"];
    all.extend_from_slice(args);
    let o = slm(&all);
    assert!(o.status.success(), "{}", stderr(&o));
    json(&o)
}

#[test]
fn token_attributions_of_a_language_model() {
    let tmp = tempfile::tempdir().unwrap();
    let model = llama();
    // Integrated gradients: one row per target token, complete within the reported delta.
    let v = tokens_json(&[
        "--model",
        &model,
        "--text",
        "ROMEO: O",
        "--target-text",
        " speak",
        "--method",
        "integrated-gradients",
        "--steps",
        "16",
    ]);
    assert_eq!((v["method"].as_str(), v["model_kind"].as_str()), (Some("integrated-gradients"), Some("causal-lm")));
    let (inputs, targets) = (v["input_tokens"].as_array().unwrap().len(), v["targets"].as_array().unwrap().len());
    assert_eq!((inputs, targets), (8, 6));
    for (j, row) in v["attributions"].as_array().unwrap().iter().enumerate() {
        let sum: f64 = row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).sum();
        let gap = v["targets"][j]["score"].as_f64().unwrap() - v["baseline_score"][j].as_f64().unwrap();
        let delta = v["convergence_delta"][j].as_f64().unwrap();
        assert!((sum - gap - delta).abs() < 1e-5 && delta.abs() < 5e-3, "target {j}: {sum} vs {gap} (delta {delta})");
    }
    // The default target is the greedy continuation of --max-new-tokens.
    let v = tokens_json(&["--model", &model, "--text", "ROMEO:", "--method", "occlusion", "--max-new-tokens", "3"]);
    assert_eq!(v["targets"].as_array().unwrap().len(), 3);
    // LIME and kernel SHAP are reproducible from their seed.
    let lime = |seed: &str| {
        tokens_json(&[
            "--model",
            &model,
            "--text",
            "ROMEO: O",
            "--target-text",
            "s",
            "--method",
            "lime",
            "--seed",
            seed,
            "--samples",
            "64",
        ])["attributions"]
            .clone()
    };
    assert_eq!(lime("3"), lime("3"));
    assert_ne!(lime("3"), lime("4"));

    // --out: JSON, an offline HTML page that draws in a real browser, and a PNG heatmap.
    let out = tmp.path().join("ig");
    let o = slm(&[
        "explain",
        "tokens",
        "--model",
        &model,
        "--text",
        "ROMEO: O",
        "--target-text",
        " speak",
        "--method",
        "occlusion",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("target 1:"), "a readable summary: {}", stdout(&o));
    assert_eq!(ls(&out), ["attribution.html", "attribution.json", "attribution.png"]);
    let (dom, log) = browser_dom(&out.join("attribution.html"), &tmp.path().join("profile"));
    assert!(dom.contains("data-status=\"ok\""), "{log}");
    assert_eq!(dom.matches("class=\"tok\"").count(), 8 * 6, "a coloured span per input token and target");

    // Many texts: one JSON line each.
    let input = tmp.path().join("texts.jsonl");
    std::fs::write(&input, "{\"text\": \"ROMEO:\"}\n{\"text\": \"O, speak\"}\n").unwrap();
    let o = slm(&[
        "explain",
        "tokens",
        "--model",
        &model,
        "--input",
        input.to_str().unwrap(),
        "--method",
        "occlusion",
        "--target-text",
        "s",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.iter().map(|l| l["input_tokens"].as_array().unwrap().len()).collect::<Vec<_>>(), [6, 8]);

    // Bad input: one sentence each.
    let bad = |args: &[&str], expected: &[&str]| {
        let mut all = vec!["explain", "tokens", "--model", &model];
        all.extend_from_slice(args);
        assert_bad_input(&slm(&all), expected);
    };
    bad(&["--text", "ROMEO", "--method", "occlusion", "--target", "spam"], &["classification head", "--target-text"]);
    bad(&["--text", "ROMEO", "--method", "occlusion", "--target-text", ""], &["target text tokenizes to nothing"]);
    bad(&["--text", "", "--method", "lime"], &["tokenizes to nothing"]);
    bad(&["--text", &"a".repeat(60), "--method", "occlusion", "--target-text", "abcdefgh"], &["do not fit", "64"]);
    bad(&["--text", "a", "--method", "occlusion", "--steps", "4"], &["--steps", "occlusion"]);
    bad(&["--text", "a", "--method", "integrated-gradients", "--seed", "4"], &["--seed"]);
    bad(&["--text", "a", "--method", "shapley"], &["shapley"]);
}

#[test]
fn token_attributions_of_a_classifier() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, _) = crate::classify::trained_classifier(tmp.path());
    let model = format!("{run}/final");
    let text = "WINNER! Claim your free prize now";
    let v = tokens_json(&["--model", &model, "--text", text, "--method", "kernel-shap"]);
    assert_eq!(v["model_kind"], "classifier");
    let label = v["targets"][0]["text"].as_str().unwrap().to_owned();
    assert!(label == "spam" || label == "ham", "{v}");
    let n = v["input_tokens"].as_array().unwrap().len();
    let row: Vec<f64> = v["attributions"][0].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(row.len(), n);
    let gap = v["targets"][0]["score"].as_f64().unwrap() - v["baseline_score"][0].as_f64().unwrap();
    if v["exact"] == true {
        assert!((row.iter().sum::<f64>() - gap).abs() < 1e-4, "exact Shapley values sum to the score's change");
    }
    let other = if label == "spam" { "ham" } else { "spam" };
    let w = tokens_json(&["--model", &model, "--text", text, "--method", "occlusion", "--target", other]);
    assert_eq!(w["targets"][0]["text"], other);
    assert_bad_input(
        &slm(&["explain", "tokens", "--model", &model, "--text", text, "--method", "occlusion", "--target", "eggs"]),
        &["--target eggs", "ham", "spam"],
    );
    assert_bad_input(
        &slm(&["explain", "tokens", "--model", &model, "--text", text, "--method", "occlusion", "--target-text", "x"]),
        &["--target-text"],
    );
}
