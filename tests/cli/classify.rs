//! `slm classify` and `slm pseudo-label` on a spam classifier trained in the test: the labels equal the
//! trainer's own evaluation, batching changes nothing, the kept pseudo-labels follow the rule, and bad
//! input gets one sentence.

use std::path::Path;

use crate::util::*;
use serde_json::Value;

fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Trains the SMS Spam classifier for 40 steps, evaluated on its whole validation split; returns the run
/// directory and the final validation accuracy from metrics.csv.
pub fn trained_classifier(dir: &Path) -> (String, f64) {
    let run = dir.join("cls").to_str().unwrap().to_owned();
    #[rustfmt::skip]
    let o = slm(&["train", "recipes/sms-spam-classify.toml", "--out", &run, "--set", "train.max_steps=40",
        "--set", "train.batch_size=16", "--set", "eval.every=40", "--set", "eval.batches=100000",
        "--set", "tokenizer.vocab_size=300"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let metrics = std::fs::read_to_string(Path::new(&run).join("metrics.csv")).unwrap();
    let val = metrics.lines().rfind(|l| l.contains(",val,")).unwrap();
    (run, val.split(',').nth(9).unwrap().parse().unwrap())
}

#[test]
fn classify_equals_the_trainers_evaluation_and_pseudo_labels_follow_the_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, accuracy) = trained_classifier(tmp.path());
    let model = format!("{run}/final");
    let val = format!("{run}/split/val.jsonl");
    let classify = |batch: &str, out: &str| {
        let out = tmp.path().join(out);
        #[rustfmt::skip]
        let o = slm(&["classify", "--model", &model, "--input", &val, "--out", out.to_str().unwrap(),
            "--batch-size", batch, "--probs"]);
        assert!(o.status.success(), "{}", stderr(&o));
        read_jsonl(&out)
    };
    let batched = classify("7", "a.jsonl");
    let one_by_one = classify("1", "b.jsonl");
    assert_eq!(batched.len(), 1032);
    for (a, b) in batched.iter().zip(&one_by_one) {
        assert_eq!(a["prediction"], b["prediction"], "batching changed a label: {a} {b}");
        let (ca, cb) = (a["confidence"].as_f64().unwrap(), b["confidence"].as_f64().unwrap());
        assert!((ca - cb).abs() < 1e-5, "{a} {b}");
        let total = a["prob_ham"].as_f64().unwrap() + a["prob_spam"].as_f64().unwrap();
        assert!((total - 1.0).abs() < 1e-5 && a["text"].is_string() && a["label"].is_string(), "{a}");
    }
    // The same accuracy as the trainer's evaluation of the same split.
    let preds = tmp.path().join("a.jsonl");
    #[rustfmt::skip]
    let o = slm(&["eval", "--metric", "f1", "--pred", preds.to_str().unwrap(), "--gold", &val, "--pred-field",
        "prediction", "--gold-field", "label", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!((json(&o)["accuracy"].as_f64().unwrap() - accuracy).abs() < 1e-9, "{} vs {accuracy}", json(&o));

    let o = slm(&["classify", "--model", &model, "--prompt", "WINNER!! Claim your FREE prize now, call 0800"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(["ham\n", "spam\n"].contains(&stdout(&o).as_str()), "{}", stdout(&o));

    // Pseudo-labels for the same texts without their labels.
    let unlabeled = tmp.path().join("unlabeled.jsonl");
    let texts: String = batched.iter().map(|r| format!("{}\n", serde_json::json!({"text": r["text"]}))).collect();
    std::fs::write(&unlabeled, texts).unwrap();
    let out = tmp.path().join("pseudo.jsonl");
    #[rustfmt::skip]
    let o = slm(&["pseudo-label", "--model", &model, "--input", unlabeled.to_str().unwrap(), "--out",
        out.to_str().unwrap(), "--threshold", "0.9", "--top-k-per-class", "40", "--balance"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let kept = read_jsonl(&out);
    let spam = kept.iter().filter(|r| r["label"] == "spam").count();
    assert!(spam > 0 && spam <= 40 && kept.len() == 2 * spam, "balanced, capped: {} kept, {spam} spam", kept.len());
    assert!(stderr(&o).contains(&format!("kept {} of 1032 records", kept.len())), "{}", stderr(&o));
    let mut last = None;
    for r in &kept {
        let i = batched.iter().position(|b| b["text"] == r["text"]).unwrap();
        assert!(last < Some(i), "not in input order");
        last = Some(i);
        assert_eq!(r["label"], batched[i]["prediction"]);
        assert!(r["confidence"].as_f64().unwrap() > 0.9 && r["margin"].as_f64().unwrap() > 0.8, "{r}");
    }
    // The most confident of each class were kept.
    let floor = |label: &str| {
        kept.iter().filter(|r| r["label"] == label).map(|r| r["confidence"].as_f64().unwrap()).fold(1.0, f64::min)
    };
    for label in ["ham", "spam"] {
        let better = batched
            .iter()
            .filter(|b| b["prediction"] == label && b["confidence"].as_f64().unwrap() > floor(label))
            .count();
        assert!(better < kept.len() / 2, "{label}: {better} more confident records were dropped");
    }

    // Bad input: one sentence, exit 2, nothing written.
    let bad = |args: &[&str], expected: &[&str]| {
        assert_bad_input(&slm(args), expected);
    };
    let (u, o2) = (unlabeled.to_str().unwrap(), tmp.path().join("x.jsonl"));
    let o2 = o2.to_str().unwrap();
    bad(
        &["pseudo-label", "--model", &model, "--input", u, "--out", o2, "--threshold", "0"],
        &["--threshold", "(0, 1]"],
    );
    bad(
        &["pseudo-label", "--model", &model, "--input", &val, "--out", o2],
        &["val.jsonl:1", "`label`", "--label-field"],
    );
    let empty = tmp.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    bad(
        &["pseudo-label", "--model", &model, "--input", empty.to_str().unwrap(), "--out", o2],
        &["empty.jsonl", "holds no records"],
    );
    bad(
        &["classify", "--model", &model, "--input", u, "--out", o2, "--field", "body"],
        &["unlabeled.jsonl:1", "no field `body`"],
    );
    bad(&["classify", "--model", &model, "--prompt", "hi", "--probs"], &["--probs does not apply to --prompt"]);
    let txt = tmp.path().join("x.txt");
    bad(&["pseudo-label", "--model", &model, "--input", u, "--out", txt.to_str().unwrap()], &["x.txt", "label field"]);
    let lm = import_tiny(tmp.path(), "lm");
    bad(&["classify", "--model", &lm, "--prompt", "hi"], &["config.json", "no classification head"]);
    assert!(!Path::new(o2).exists(), "a failed run wrote its output");
}

#[test]
fn pseudo_labels_of_a_causal_lm_are_its_greedy_completions_and_the_most_confident_stay() {
    let tmp = tempfile::tempdir().unwrap();
    let lm = import_tiny(tmp.path(), "lm");
    let input = tmp.path().join("q.jsonl");
    let prompts = ["To be", "KING", "O, ", "First", "What say"];
    let lines: String = prompts.iter().map(|p| format!("{}\n", serde_json::json!({"prompt": p}))).collect();
    std::fs::write(&input, lines).unwrap();
    let run = |out: &str, extra: &[&str]| {
        let out = tmp.path().join(out);
        #[rustfmt::skip]
        let args = [&["pseudo-label", "--model", &lm, "--input", input.to_str().unwrap(), "--field", "prompt",
            "--out", out.to_str().unwrap(), "--max-new-tokens", "8"][..], extra].concat();
        let o = slm(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        read_jsonl(&out)
    };
    let all = run("all.jsonl", &["--threshold", "0.0001"]);
    assert_eq!(all.len(), prompts.len());
    // The completions are `slm generate`'s greedy ones.
    let generations = tmp.path().join("g.jsonl");
    #[rustfmt::skip]
    let o = slm(&["generate", "--model", &lm, "--input", input.to_str().unwrap(), "--out",
        generations.to_str().unwrap(), "--max-new-tokens", "8"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (p, g) in all.iter().zip(read_jsonl(&generations)) {
        assert_eq!(p["completion"], g["generation"]);
        let c = p["confidence"].as_f64().unwrap();
        assert!(c > 0.0 && c <= 1.0, "{p}");
    }
    // --top-k 2 keeps the two most confident, in input order.
    let mut by_confidence: Vec<&Value> = all.iter().collect();
    by_confidence.sort_by(|a, b| b["confidence"].as_f64().unwrap().total_cmp(&a["confidence"].as_f64().unwrap()));
    let top = run("top.jsonl", &["--threshold", "0.0001", "--top-k", "2"]);
    let mut want: Vec<&Value> = by_confidence[..2].to_vec();
    want.sort_by_key(|r| prompts.iter().position(|p| r["prompt"] == *p));
    assert_eq!(top.iter().collect::<Vec<_>>(), want);
    let out = tmp.path().join("x.jsonl");
    #[rustfmt::skip]
    assert_bad_input(&slm(&["pseudo-label", "--model", &lm, "--input", input.to_str().unwrap(), "--field", "prompt",
        "--out", out.to_str().unwrap(), "--balance"]), &["--balance does not apply to a causal LM"]);
}

/// Runs a spam self-training recipe on 30 labeled messages per class and 1,500 unlabeled ones, with
/// `extra` settings; returns the run directory.
fn self_train(tmp: &Path, name: &str, extra: &[&str]) -> std::path::PathBuf {
    let rows: Vec<Value> = read_jsonl(&dataset("sms_spam/sms_spam.jsonl"));
    let labeled: Vec<&Value> =
        ["spam", "ham"].iter().flat_map(|c| rows.iter().filter(|r| r["label"] == *c).take(30)).collect();
    let unlabeled: Vec<Value> =
        rows.iter().skip(200).take(1500).map(|r| serde_json::json!({"text": r["text"]})).collect();
    let (lab, unl) = (tmp.join("labeled.jsonl"), tmp.join("unlabeled.jsonl"));
    std::fs::write(&lab, labeled.iter().map(|r| format!("{r}\n")).collect::<String>()).unwrap();
    std::fs::write(&unl, unlabeled.iter().map(|r| format!("{r}\n")).collect::<String>()).unwrap();
    let run = tmp.join(name);
    let mut args: Vec<String> =
        ["train", "recipes/sms-spam-classify.toml", "--out", run.to_str().unwrap()].map(String::from).to_vec();
    for kv in [
        format!("data.train={}", lab.display()),
        "train.max_steps=60".into(),
        "train.batch_size=16".into(),
        "eval.every=20".into(),
        "eval.metric=macro_f1".into(),
        "tokenizer.vocab_size=500".into(),
        format!("self_training.unlabeled={}", unl.display()),
        "self_training.threshold=0.7".into(),
        "self_training.max_ratio=4".into(),
    ]
    .into_iter()
    .chain(extra.iter().map(|s| (*s).to_owned()))
    {
        args.extend(["--set".to_owned(), kv]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = slm(&refs);
    assert!(o.status.success(), "{}", stderr(&o));
    run
}

/// The records `slm pseudo-label` keeps with the round-0 model of `run` under the recipe's rule.
fn pseudo_labels_of_round_0(tmp: &Path, run: &Path) -> Vec<Value> {
    let out = tmp.join(format!("{}-pseudo.jsonl", run.file_name().unwrap().to_str().unwrap()));
    #[rustfmt::skip]
    let o = slm(&["pseudo-label", "--model", run.join("round-0/best").to_str().unwrap(), "--input",
        tmp.join("unlabeled.jsonl").to_str().unwrap(), "--out", out.to_str().unwrap(), "--threshold", "0.7",
        "--top-k", "192", "--balance"]);
    assert!(o.status.success(), "{}", stderr(&o));
    read_jsonl(&out)
}

#[test]
fn self_training_keeps_only_rounds_that_raise_the_validation_score() {
    let tmp = tempfile::tempdir().unwrap();
    let run = self_train(tmp.path(), "st", &["self_training.rounds=3"]);
    let log = std::fs::read_to_string(run.join("self_training.csv")).unwrap();
    let rows: Vec<Vec<&str>> = log.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert!(rows.len() >= 2, "{log}");
    let mut best = f64::NEG_INFINITY;
    let mut best_round = 0;
    for (i, row) in rows.iter().enumerate() {
        let score: f64 = row[3].parse().unwrap();
        let kept = row[4] == "true";
        assert_eq!(kept, score > best, "round {i}: {log}");
        if kept {
            (best, best_round) = (score, i);
        }
        if i > 0 {
            // Labeled records and at most 4 pseudo-labeled per labeled one, balanced across the classes.
            let pseudo: usize = row[1].parse().unwrap();
            assert!(pseudo > 0 && pseudo <= 4 * 48, "{log}");
            let counts: Vec<&str> = row[2].split(' ').map(|c| c.split(':').nth(1).unwrap()).collect();
            assert!(counts.windows(2).all(|w| w[0] == w[1]), "balanced: {log}");
            let data = std::fs::read_to_string(run.join(format!("data/round-{i}.jsonl"))).unwrap();
            assert_eq!(data.lines().count(), 48 + pseudo);
        }
        if !kept {
            assert_eq!(i, rows.len() - 1, "a rolled-back round ends the search: {log}");
        }
    }
    assert!(best >= rows[0][3].parse::<f64>().unwrap());
    // final/ is the best round's best model.
    let best_dir = run.join(format!("round-{best_round}/best"));
    let read = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert!(read(&run.join("final")) == read(&best_dir), "final/ is not round {best_round}'s model");

    // Round 1 trained on exactly the records `slm pseudo-label` keeps with the round-0 model.
    let round1: Vec<Value> = read_jsonl(&run.join("data/round-1.jsonl")).split_off(48);
    let want: Vec<Value> = pseudo_labels_of_round_0(tmp.path(), &run)
        .iter()
        .map(|r| serde_json::json!({"text": r["text"], "label": r["label"]}))
        .collect();
    assert_eq!(round1, want);

    // FixMatch: the same labels, predicted from the plain texts, on strongly augmented copies.
    let fixmatch = self_train(tmp.path(), "fm", &["self_training.rounds=1", "self_training.consistency=fixmatch"]);
    let augmented: Vec<Value> = read_jsonl(&fixmatch.join("data/round-1.jsonl")).split_off(48);
    let plain = pseudo_labels_of_round_0(tmp.path(), &fixmatch);
    assert_eq!(augmented.len(), plain.len());
    let changed = augmented.iter().zip(&plain).filter(|(a, p)| a["text"] != p["text"]).count();
    assert!(augmented.iter().zip(&plain).all(|(a, p)| a["label"] == p["label"]));
    assert!(changed * 10 >= plain.len() * 9, "{changed} of {} texts augmented", plain.len());

    let recipe = ["train", "recipes/sms-spam-classify.toml", "--out", run.to_str().unwrap(), "--force"];
    let st = ["--set", "self_training.unlabeled=x.jsonl"];
    assert_bad_input(
        &slm(&[&recipe[..], &st, &["--stop-after", "3"]].concat()),
        &["--stop-after do not apply to a [self_training] recipe"],
    );
    assert_bad_input(
        &slm(&[&recipe[..], &st, &["--set", "self_training.threshold=0"]].concat()),
        &["self_training.threshold", "(0, 1]"],
    );
}
