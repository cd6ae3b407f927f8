//! `slm validate`, `slm augment`, `slm normalize` and `slm tokenizer` end to end on real datasets.

use crate::util::*;
use serde_json::Value;

fn read_jsonl(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// HumanEval decompressed with the system's gzip, so the tests need no extra crate.
fn humaneval(dir: &std::path::Path) -> std::path::PathBuf {
    let o = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(dataset("humaneval/HumanEval.jsonl.gz"))
        .output()
        .expect("gzip runs");
    assert!(o.status.success());
    let path = dir.join("humaneval.jsonl");
    std::fs::write(&path, o.stdout).unwrap();
    path
}

#[test]
fn reference_solutions_are_valid_and_every_broken_variant_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let mbpp = dataset("mbpp/mbpp.jsonl");
    let o = slm(&["validate", mbpp.to_str().unwrap(), "--field", "code", "--lang", "python", "--json"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(json(&o)["valid"], 974);
    let he = humaneval(dir.path());
    let o = slm(&["validate", he.to_str().unwrap(), "--field", "prompt", "--field", "canonical_solution", "--json"]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert_eq!(json(&o)["valid"], 164);

    // Two corruptions of every MBPP solution: an unclosed bracket, and a function name that is a number.
    let mut broken = String::new();
    let mut n = 0;
    for rec in read_jsonl(&mbpp) {
        let code = rec["code"].as_str().unwrap();
        let mut variants = vec![format!("{code}\nresult = (1,")];
        if code.contains("def ") {
            variants.push(code.replacen("def ", "def 1", 1));
        }
        for v in variants {
            broken += &serde_json::json!({"task_id": rec["task_id"], "code": v}).to_string();
            broken.push('\n');
            n += 1;
        }
    }
    let bad = dir.path().join("broken.jsonl");
    std::fs::write(&bad, broken).unwrap();
    let o = slm(&["validate", bad.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let j = json(&o);
    assert_eq!(j["total"], n);
    assert_eq!(j["valid"], 0, "some broken code passed");
    assert_eq!(j["invalid"][0]["line"], 1);
    assert!(j["invalid"][0]["message"].as_str().unwrap().len() > 5);

    // Mixed file: --drop-invalid keeps exactly the valid records, unchanged.
    let mixed = dir.path().join("mixed.jsonl");
    std::fs::write(&mixed, "{\"code\":\"x = 1\"}\n{\"code\":\"x = (\"}\n{\"code\":\"def f():\\n    return 2\"}\n")
        .unwrap();
    let out = dir.path().join("clean.jsonl");
    let o = slm(&["validate", mixed.to_str().unwrap(), "--drop-invalid", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("mixed.jsonl:2: invalid"), "{}", stdout(&o));
    let kept = read_jsonl(&out);
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[1]["code"], "def f():\n    return 2");
}

#[test]
fn rust_and_json_validation() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("r.jsonl");
    std::fs::write(&f, "{\"code\":\"fn main() { println!(\\\"hi\\\"); }\"}\n{\"code\":\"fn main( {}\"}\n").unwrap();
    let o = slm(&["validate", f.to_str().unwrap(), "--lang", "rust", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&o)["invalid"][0]["line"], 2);
    std::fs::write(&f, "{\"code\":\"{\\\"a\\\": 1}\"}\n{\"code\":\"[1,]\"}\n").unwrap();
    let o = slm(&["validate", f.to_str().unwrap(), "--lang", "json", "--json"]);
    assert_eq!(json(&o)["valid"], 1);
}

#[test]
fn augment_is_deterministic_and_keeps_other_fields() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset("sms_spam/sms_spam.jsonl");
    let run = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        let o = slm(&[
            "augment",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--synonym",
            "0.2",
            "--insert",
            "0.1",
            "--swap",
            "0.1",
            "--delete",
            "0.1",
            "--copies",
            "4",
            "--seed",
            seed,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read(out).unwrap()
    };
    let a = run("a.jsonl", "1");
    assert_eq!(a, run("b.jsonl", "1"));
    assert_ne!(a, run("c.jsonl", "2"));
    let recs = read_jsonl(&dir.path().join("a.jsonl"));
    let originals = read_jsonl(&data);
    let mut ops = std::collections::BTreeMap::new();
    for r in &recs {
        match r.get("augmented_from") {
            None => continue,
            Some(line) => {
                let src = &originals[line.as_u64().unwrap() as usize - 1];
                assert_eq!(r["label"], src["label"]);
                assert_ne!(r["text"], src["text"], "an augmented copy equals its source");
                *ops.entry(r["op"].as_str().unwrap().to_owned()).or_insert(0) += 1;
            }
        }
    }
    assert_eq!(ops.keys().collect::<Vec<_>>(), ["delete", "insert", "swap", "synonym"]);
    assert_eq!(recs.iter().filter(|r| r.get("augmented_from").is_none()).count(), 5574);
}

#[test]
fn augment_rejects_missing_field_and_no_operation() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset("sms_spam/sms_spam.jsonl");
    let out = dir.path().join("o.jsonl");
    let o =
        slm(&["augment", data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--field", "body", "--swap", "0.1"]);
    assert_bad_input(&o, &["sms_spam.jsonl:1", "`body`"]);
    assert!(!out.exists());
    let o = slm(&["augment", data.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_bad_input(&o, &["no augmentation enabled"]);
}

#[test]
fn normalize_replaces_whole_words_and_reports_counts() {
    let dir = tempfile::tempdir().unwrap();
    let glossary = dir.path().join("terms.csv");
    std::fs::write(&glossary, "variant,canonical\nNN,neural network\nneural net,neural network\nDNNs,deep neural networks\nSOTA,state of the art\n").unwrap();
    let data = dataset("scitldr/test.jsonl");
    let out = dir.path().join("n.jsonl");
    let o = slm(&[
        "normalize",
        data.to_str().unwrap(),
        "--glossary",
        glossary.to_str().unwrap(),
        "--field",
        "target",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("neural network"), "{err}");
    let before = read_jsonl(&data);
    let after = read_jsonl(&out);
    assert_eq!(before.len(), after.len());
    let mut changed = 0;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b["source"], a["source"], "other fields untouched");
        if b["target"] != a["target"] {
            changed += 1;
            assert!(!a["target"].to_string().contains(" NN "), "{}", a["target"]);
        }
    }
    assert!(changed > 0);
}

#[test]
fn tokenizer_train_and_encode_compose() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tok.json");
    let data = dataset("tinyshakespeare/input.txt");
    let o = slm(&[
        "tokenizer",
        "train",
        data.to_str().unwrap(),
        "--kind",
        "bpe",
        "--vocab-size",
        "512",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = slm(&["tokenizer", "encode", "--tokenizer", out.to_str().unwrap(), "--text", "ROMEO: hello"]);
    let ids: Vec<u32> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!ids.is_empty() && ids.iter().all(|&i| i < 512));
    let o = slm(&[
        "tokenizer",
        "train",
        data.to_str().unwrap(),
        "--vocab-size",
        "100",
        "--out",
        dir.path().join("x.json").to_str().unwrap(),
    ]);
    assert_bad_input(&o, &["--vocab-size", "258"]);
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{not a tokenizer").unwrap();
    let o = slm(&["tokenizer", "encode", "--tokenizer", broken.to_str().unwrap(), "--text", "x"]);
    assert_bad_input(&o, &["broken.json", "tokenizer"]);
}

#[test]
fn tokenizer_trains_on_a_jsonl_field() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sms.json");
    let data = dataset("sms_spam/sms_spam.jsonl");
    let o = slm(&[
        "tokenizer",
        "train",
        data.to_str().unwrap(),
        "--field",
        "text",
        "--vocab-size",
        "600",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let tok: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let vocab = tok["model"]["vocab"].as_object().unwrap();
    assert!(!vocab.keys().any(|k| k.contains("\"label\"")), "JSON syntax leaked into the vocabulary");
    let o = slm(&[
        "tokenizer",
        "train",
        data.to_str().unwrap(),
        "--field",
        "body",
        "--out",
        dir.path().join("x.json").to_str().unwrap(),
    ]);
    assert_bad_input(&o, &["sms_spam.jsonl:1", "`body`"]);
}
