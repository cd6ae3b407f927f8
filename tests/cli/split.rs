//! `slm split` end to end on real datasets, and every bad input the contract names.

use std::collections::{BTreeMap, HashSet};

use crate::util::*;

fn labels(path: &std::path::Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        *counts.entry(v["label"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    counts
}

fn spam_share(path: &std::path::Path) -> f64 {
    let c = labels(path);
    c["spam"] as f64 / (c["spam"] + c["ham"]) as f64
}

/// Splits SMS Spam stratified by label into `out`, with `extra` flags; returns the JSON summary.
fn split_sms(out: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let data = dataset("sms_spam/sms_spam.jsonl");
    let mut args =
        vec!["split", data.to_str().unwrap(), "--stratify", "label", "--out-dir", out.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let o = slm(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    json(&o)
}

#[test]
fn sms_spam_stratified_split_keeps_866_134_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset("sms_spam/sms_spam.jsonl");
    let out = dir.path().join("s");
    let j = split_sms(&out, &["--no-dedup"]);
    assert_eq!(j["train"].as_u64().unwrap() + j["val"].as_u64().unwrap(), 5574);
    assert_eq!(j["train"], 4459); // round(0.8 * 5574)
    // 0.8 * 747 = 597.6 and 0.8 * 4827 = 3861.6: the one extra train place goes to the tie's first class (ham)
    assert_eq!(j["classes"]["spam"]["train"], 597);
    assert_eq!(j["classes"]["spam"]["val"], 150);
    for side in ["train.jsonl", "val.jsonl"] {
        let share = spam_share(&out.join(side));
        assert!((share - 0.134).abs() < 0.0015, "{side}: spam share {share}");
    }
    // The union of the two sides is the input, byte for byte per line.
    let mut input: Vec<String> = std::fs::read_to_string(&data).unwrap().lines().map(str::to_owned).collect();
    let mut both: Vec<String> = ["train.jsonl", "val.jsonl"]
        .iter()
        .flat_map(|f| std::fs::read_to_string(out.join(f)).unwrap().lines().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    input.sort();
    both.sort();
    assert_eq!(input, both);
}

#[test]
fn default_dedup_removes_exact_duplicates_and_keeps_balance() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let out = dir.path().join(name);
        (split_sms(&out, &[]), out)
    };
    let (j, out) = run("a");
    assert_eq!(j["duplicates_removed"], 415);
    assert_eq!(j["train"].as_u64().unwrap() + j["val"].as_u64().unwrap(), 5574 - 415);
    let (tr, va) = (spam_share(&out.join("train.jsonl")), spam_share(&out.join("val.jsonl")));
    assert!((tr - va).abs() < 0.005, "train {tr} val {va}");
    // No text (canonical form) appears twice, and none on both sides.
    let canon = |s: &str| s.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
    let mut seen = HashSet::new();
    for f in ["train.jsonl", "val.jsonl"] {
        for line in std::fs::read_to_string(out.join(f)).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(seen.insert(canon(v["text"].as_str().unwrap())), "duplicate kept: {line}");
        }
    }
    // Same seed, same bytes.
    let (_, again) = run("b");
    for f in ["train.jsonl", "val.jsonl"] {
        assert_eq!(std::fs::read(out.join(f)).unwrap(), std::fs::read(again.join(f)).unwrap());
    }
}

#[test]
fn banking77_csv_keeps_all_77_classes_and_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset("banking77/train.csv");
    let o = slm(&[
        "split",
        data.to_str().unwrap(),
        "--stratify",
        "category",
        "--out-dir",
        dir.path().to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    let classes = j["classes"].as_object().unwrap();
    assert_eq!(classes.len(), 77);
    for (name, c) in classes {
        let (t, v) = (c["train"].as_u64().unwrap() as f64, c["val"].as_u64().unwrap() as f64);
        assert!((t - 0.8 * (t + v)).abs() < 1.0 + 1e-9, "{name}: {t}/{v}");
    }
    let val = std::fs::read_to_string(dir.path().join("val.csv")).unwrap();
    assert!(val.starts_with("text,category\r\n"), "{}", &val[..40]);
}

#[test]
fn groups_and_near_duplicates_never_straddle() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("g.jsonl");
    let mut lines = String::new();
    let base = "the model was trained on a small corpus of shakespeare plays for two thousand steps";
    for i in 0..200 {
        let text = if i % 10 == 0 {
            format!("{base} variant {}", i / 10 % 2)
        } else {
            format!("unique record number {i} about topic {}", i * 7 % 13)
        };
        lines += &serde_json::json!({"doc": format!("d{}", i % 23), "text": text}).to_string();
        lines.push('\n');
    }
    std::fs::write(&data, lines).unwrap();
    let o = slm(&[
        "split",
        data.to_str().unwrap(),
        "--group",
        "doc",
        "--out-dir",
        dir.path().join("o").to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    assert!(j["near_duplicate_pairs"].as_u64().unwrap() >= 1, "{j}");
    let side_docs = |f: &str| -> HashSet<String> {
        std::fs::read_to_string(dir.path().join("o").join(f))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["doc"].as_str().unwrap().to_owned())
            .collect()
    };
    let (train, val) = (side_docs("train.jsonl"), side_docs("val.jsonl"));
    assert!(train.is_disjoint(&val), "groups straddle: {:?}", train.intersection(&val).collect::<Vec<_>>());
    assert!(!val.is_empty());
}

fn bad(content: &[u8], name: &str, extra: &[&str], expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join(name);
    std::fs::write(&data, content).unwrap();
    let out = dir.path().join("out");
    let mut args = vec!["split", data.to_str().unwrap(), "--out-dir", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = slm(&args);
    assert_bad_input(&o, expected);
    assert!(ls(&out).is_empty(), "partial output left: {:?}", ls(&out));
    assert_eq!(std::fs::read(&data).unwrap(), content, "input modified");
}

#[test]
fn bad_inputs_give_one_sentence_and_exit_2() {
    bad(b"{\"text\":\"a\"}\n{\"text\": oops}\n", "d.jsonl", &[], &["d.jsonl:2", "malformed JSON"]);
    bad(b"text,label\na,b\nc\n", "d.csv", &[], &["d.csv:3", "expected 2 fields", "found 1"]);
    bad(b"ok\nbad \xff byte\n", "d.txt", &[], &["d.txt:2", "invalid UTF-8"]);
    bad(b"", "d.jsonl", &[], &["d.jsonl", "no records"]);
    bad(
        b"{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":\"b\"}\n",
        "d.jsonl",
        &["--stratify", "label"],
        &["d.jsonl:2", "`label`"],
    );
    bad(b"{\"text\":\"a\"}\n", "d.jsonl", &["--ratio", "1.5"], &["--ratio", "1.5"]);
    bad(b"{\"text\":\"a\"}\n", "d.jsonl", &["--ratio", "0"], &["--ratio"]);
}

#[test]
fn output_path_that_is_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.jsonl");
    std::fs::write(&data, "{\"text\":\"a\"}\n{\"text\":\"b\"}\n").unwrap();
    let file = dir.path().join("taken");
    std::fs::write(&file, "x").unwrap();
    let o = slm(&["split", data.to_str().unwrap(), "--out-dir", file.to_str().unwrap()]);
    assert_bad_input(&o, &["taken", "is a file"]);
    // Existing outputs are not overwritten without --force.
    let o = slm(&["split", data.to_str().unwrap(), "--out-dir", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = std::fs::read(dir.path().join("train.jsonl")).unwrap();
    let o = slm(&["split", data.to_str().unwrap(), "--out-dir", dir.path().to_str().unwrap(), "--seed", "7"]);
    assert_bad_input(&o, &["train.jsonl", "already exists", "--force"]);
    assert_eq!(std::fs::read(dir.path().join("train.jsonl")).unwrap(), before);
}

#[test]
fn a_class_with_one_record_goes_to_train_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("one.jsonl");
    std::fs::write(&data, "{\"label\":\"a\",\"text\":\"x y\"}\n{\"label\":\"a\",\"text\":\"y z\"}\n{\"label\":\"a\",\"text\":\"z w\"}\n{\"label\":\"a\",\"text\":\"w v\"}\n{\"label\":\"b\",\"text\":\"lonely\"}\n").unwrap();
    let o = slm(&[
        "split",
        data.to_str().unwrap(),
        "--stratify",
        "label",
        "--out-dir",
        dir.path().join("o").to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success());
    assert!(stderr(&o).contains("warning: class `b` has a single record; it goes to train"), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["classes"]["b"]["train"], 1);
    assert_eq!(j["classes"]["a"]["val"], 1);
}
