//! `slm eval` end to end: text metrics, classification, complexity, the baseline gate, and bad input.

use crate::util::*;

fn fixture(name: &str) -> String {
    testdata("eval").join(name).to_str().unwrap().to_owned()
}

#[test]
fn bleu_json_matches_the_golden_signature_and_counts() {
    let o = slm(&["eval", "--metric", "bleu", "--hyp", &fixture("tico.en"), "--ref", &fixture("tico.fr"), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("golden.json")).unwrap()).unwrap();
    let case = golden["bleu"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["hyp"] == "tico.en" && c["options"] == serde_json::json!({"tokenize": "13a"}))
        .unwrap();
    assert_eq!(j["counts"], case["counts"]);
    assert_eq!(j["signature"], case["signature"]);
    assert!((j["score"].as_f64().unwrap() - case["score"].as_f64().unwrap()).abs() < 1e-9);
}

#[test]
fn rouge_zh_tokenizer_makes_chinese_meaningful() {
    let dir = tempfile::tempdir().unwrap();
    let (h, r) = (dir.path().join("h.txt"), dir.path().join("r.txt"));
    std::fs::write(&h, "今天天气很好\n").unwrap();
    std::fs::write(&r, "今天天气不错\n").unwrap();
    let run = |tok: &str| {
        let o = slm(&[
            "eval",
            "--metric",
            "rouge",
            "--types",
            "rouge1",
            "--tokenize",
            tok,
            "--hyp",
            h.to_str().unwrap(),
            "--ref",
            r.to_str().unwrap(),
            "--json",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        json(&o)["rouge1"]["fmeasure"].as_f64().unwrap()
    };
    assert_eq!(run("default"), 0.0, "rouge-score drops Chinese");
    assert!((run("zh") - 4.0 / 6.0).abs() < 1e-12);
}

#[test]
fn classification_report_and_confusion_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let (p, g) = (dir.path().join("p.txt"), dir.path().join("g.txt"));
    std::fs::write(&p, "ham\nham\nham\nham\nspam\n").unwrap();
    std::fs::write(&g, "ham\nham\nham\nspam\nspam\n").unwrap();
    let o = slm(&["eval", "--metric", "f1", "--pred", p.to_str().unwrap(), "--gold", g.to_str().unwrap(), "--json"]);
    assert!(o.status.success());
    let j = json(&o);
    assert_eq!(j["accuracy"], 0.8);
    assert_eq!(j["confusion"]["matrix"], serde_json::json!([[3, 0], [1, 1]]));
    assert!((j["classes"]["spam"]["f1"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    let o = slm(&["eval", "--metric", "accuracy", "--pred", p.to_str().unwrap(), "--gold", g.to_str().unwrap()]);
    assert!(stdout(&o).contains("confusion matrix"), "{}", stdout(&o));
}

#[test]
fn complexity_of_humaneval_solutions() {
    let dir = tempfile::tempdir().unwrap();
    let o =
        std::process::Command::new("gzip").arg("-dc").arg(dataset("humaneval/HumanEval.jsonl.gz")).output().unwrap();
    let problems = dir.path().join("he.jsonl");
    std::fs::write(&problems, &o.stdout).unwrap();
    let mut samples = String::new();
    for line in String::from_utf8(o.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        samples += &serde_json::json!({"task_id": v["task_id"], "completion": v["canonical_solution"]}).to_string();
        samples.push('\n');
    }
    let s = dir.path().join("s.jsonl");
    std::fs::write(&s, samples).unwrap();
    let o = slm(&[
        "eval",
        "--metric",
        "complexity",
        "--samples",
        s.to_str().unwrap(),
        "--problems",
        problems.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["parsed"], 164);
    assert_eq!(j["unparsable"], 0);
    let mean = j["mean"].as_f64().unwrap();
    assert!(mean > 2.0 && mean < 6.0, "{mean}");
}

#[test]
fn baseline_gate_passes_then_fails_on_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json");
    let args = |hyp: &str| {
        vec![
            "eval".to_owned(),
            "--metric".into(),
            "chrf".into(),
            "--hyp".into(),
            fixture(hyp),
            "--ref".into(),
            fixture("flores.deu"),
        ]
    };
    let mut save = args("flores.deu.shuf");
    save.extend(["--save-baseline".into(), base.to_str().unwrap().to_owned()]);
    let o = slm(&save.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    let mut same = args("flores.deu.shuf");
    same.extend(["--baseline".into(), base.to_str().unwrap().to_owned()]);
    let o = slm(&same.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("gate passed"));
    // English "translations" of German references score far lower: the gate fails with exit 1.
    let mut worse = args("flores.eng");
    worse.extend(["--baseline".into(), base.to_str().unwrap().to_owned(), "--tolerance".into(), "1".into()]);
    let o = slm(&worse.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("REGRESSED"), "{}", stderr(&o));
    // A baseline for another metric is bad usage.
    let o = slm(&[
        "eval",
        "--metric",
        "bleu",
        "--hyp",
        &fixture("flores.eng"),
        "--ref",
        &fixture("flores.deu"),
        "--baseline",
        base.to_str().unwrap(),
    ]);
    assert_bad_input(&o, &["base.json", "metric"]);
}

#[test]
fn the_gate_fails_on_missing_and_non_finite_scores_and_knows_directions() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json");
    let b = base.to_str().unwrap();
    let rouge = |types: &str, extra: &[&str]| {
        let (hyp, reference) = (fixture("scitldr.lead"), fixture("scitldr.ref1"));
        slm(&[&["eval", "--metric", "rouge", "--hyp", &hyp, "--ref", &reference, "--types", types][..], extra].concat())
    };
    assert!(rouge("rouge1,rouge2", &["--save-baseline", b]).status.success());
    // The same run passes; `segments` is a count, never compared (a run on fewer segments still passes).
    let o = rouge("rouge1,rouge2", &["--baseline", b]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // A score of the baseline that this run lacks fails, naming it.
    let o = rouge("rouge1", &["--baseline", b]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("gate failed: `rouge2.precision` of the baseline is missing from this run"),
        "{}",
        stderr(&o)
    );
    // A non-finite score (NaN and infinity are null in JSON) fails whatever the tolerance.
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    v["rouge1"]["fmeasure"] = serde_json::Value::Null;
    std::fs::write(&base, v.to_string()).unwrap();
    let o = rouge("rouge1,rouge2", &["--baseline", b, "--tolerance", "100"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("`rouge1.fmeasure` is not a finite number in the baseline"), "{}", stderr(&o));
    // Complexity is lower-is-better: more complex code than the baseline's fails, simpler code passes.
    let samples = |name: &str, code: &str| {
        let p = dir.path().join(name);
        let line = serde_json::json!({"task_id": "t", "completion": code}).to_string();
        std::fs::write(&p, line + "\n").unwrap();
        p.to_str().unwrap().to_owned()
    };
    let simple = samples("simple.jsonl", "def f(x):\n    return x\n");
    let branchy = samples(
        "branchy.jsonl",
        "def f(x):\n    if x:\n        return 1\n    elif x > 2:\n        return 2\n    return 3\n",
    );
    let cx = dir.path().join("cx.json");
    let o = slm(&["eval", "--metric", "complexity", "--samples", &simple, "--save-baseline", cx.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = slm(&["eval", "--metric", "complexity", "--samples", &branchy, "--baseline", cx.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("`mean` rose from 1 to 3"), "{}", stderr(&o));
    let o = slm(&["eval", "--metric", "complexity", "--samples", &simple, "--baseline", cx.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn bad_inputs_give_one_sentence_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, content: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let two = write("two.txt", b"a\nb\n");
    let three = write("three.txt", b"a\nb\nc\n");
    let bad_utf8 = write("bad.txt", b"ok\n\xff\n");
    let empty = write("empty.txt", b"");
    let bleu = |h: &str, r: &str| slm(&["eval", "--metric", "bleu", "--hyp", h, "--ref", r]);
    assert_bad_input(&bleu(&two, &three), &["two.txt has 2 segments", "three.txt has 3"]);
    assert_bad_input(&bleu(&two, "/nonexistent/ref.txt"), &["/nonexistent/ref.txt"]);
    assert_bad_input(&bleu(&bad_utf8, &two), &["bad.txt:2", "invalid UTF-8"]);
    assert_bad_input(&bleu(&empty, &two), &["empty.txt", "empty"]);
    assert_bad_input(
        &slm(&["eval", "--metric", "meteor", "--hyp", &two, "--ref", &two]),
        &["invalid value 'meteor' for '--metric", "pass@k"],
    );
    assert_bad_input(
        &slm(&["eval", "--metric", "bleu", "--tokenize", "moses", "--hyp", &two, "--ref", &two]),
        &["invalid value 'moses' for '--tokenize", "13a, intl"],
    );
    assert_bad_input(
        &slm(&["eval", "--metric", "rouge", "--types", "rougeX", "--hyp", &two, "--ref", &two]),
        &["unknown ROUGE type"],
    );
    assert_bad_input(&slm(&["eval", "--metric", "chrf", "--hyp", &two]), &["--ref"]);
}

#[test]
fn sentence_scores_one_per_segment() {
    let o = slm(&[
        "eval",
        "--metric",
        "bleu",
        "--sentence",
        "--hyp",
        &fixture("edge.hyp"),
        "--ref",
        &fixture("edge.ref"),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["scores"].as_array().unwrap().len(), 14);
    assert!(j["signature"].as_str().unwrap().contains("eff:yes"));
    let o =
        slm(&["eval", "--metric", "chrf", "--sentence", "--hyp", &fixture("edge.hyp"), "--ref", &fixture("edge.ref")]);
    assert_eq!(stdout(&o).lines().count(), 14);
}
