//! Flags that do not apply to the chosen mode are refused with a sentence naming the flag and the mode;
//! closed sets of values are checked by the parser; outputs keep what they were asked to keep.

use std::io::Read;
use std::process::{Command, Stdio};

use crate::util::*;

#[test]
fn eval_refuses_flags_of_other_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("a.txt");
    std::fs::write(&f, "the cat sat\n").unwrap();
    let f = f.to_str().unwrap();
    let eval = |extra: &[&str]| slm(&[&["eval", "--hyp", f, "--ref", f][..], extra].concat());
    assert_bad_input(&eval(&["--metric", "rouge", "--lowercase"]), &["--lowercase does not apply to --metric rouge"]);
    assert_bad_input(&eval(&["--metric", "chrf", "--stemmer"]), &["--stemmer does not apply to --metric chrf"]);
    assert_bad_input(&eval(&["--metric", "bleu", "--window", "8"]), &["--window does not apply to --metric bleu"]);
    assert_bad_input(
        &eval(&["--metric", "bleu", "--tolerance", "1"]),
        &["--tolerance does not apply to eval without --baseline"],
    );
    assert_bad_input(&eval(&["--metric", "rouge", "--tokenize", "intl"]), &["--tokenize intl does not apply to ROUGE"]);
    assert_bad_input(
        &eval(&["--metric", "bleu", "--tokenize", "default"]),
        &["--tokenize default does not apply to BLEU"],
    );
    assert_bad_input(
        &eval(&["--metric", "bleu", "--smooth-value", "0.2"]),
        &["--smooth-value applies to --smooth floor or add-k only"],
    );
    // The same flags where they apply still work.
    let o = eval(&["--metric", "bleu", "--lowercase", "--smooth", "floor", "--smooth-value", "0.2", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // --help lists the values of a closed set.
    let help = stdout(&slm(&["eval", "--help"]));
    assert!(help.contains("pass@k") && help.contains("perplexity"), "{help}");
}

#[test]
fn generate_refuses_flags_of_other_strategies_and_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let m = import_tiny(tmp.path(), "tiny");
    let generate = |extra: &[&str]| slm(&[&["generate", "--model", &m, "--max-new-tokens", "4"][..], extra].concat());
    assert_bad_input(
        &generate(&["--prompt", "hi", "--temperature", "0.7"]),
        &["--temperature does not apply to --strategy greedy"],
    );
    assert_bad_input(
        &generate(&["--prompt", "hi", "--strategy", "beam", "--stop", "."]),
        &["--stop does not apply to --strategy beam"],
    );
    assert_bad_input(
        &generate(&["--prompt", "hi", "--strategy", "beam", "--repetition-penalty", "1.2"]),
        &["--repetition-penalty does not apply to --strategy beam"],
    );
    assert_bad_input(
        &generate(&["--prompt", "hi", "--strategy", "sample", "--beams", "2"]),
        &["--beams does not apply to --strategy sample"],
    );
    assert_bad_input(
        &generate(&["--prompt", "hi", "--early-stopping", "never"]),
        &["--early-stopping does not apply to --strategy greedy"],
    );
    assert_bad_input(
        &generate(&["--prompt", "hi", "--strategy", "beam", "--early-stopping", "sometimes"]),
        &["invalid value 'sometimes'", "true, false, never"],
    );
    let o = generate(&["--prompt", "hi", "--strategy", "beam", "--beams", "3", "--early-stopping", "never"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_bad_input(&generate(&["--prompt", "hi", "--field", "text"]), &["--field does not apply to --prompt"]);
    assert_bad_input(
        &generate(&["--prompt", "hi", "--strategy", "nucleus"]),
        &["invalid value 'nucleus'", "greedy, sample, beam"],
    );
    let o = generate(&["--prompt", "hi", "--strategy", "sample", "--temperature", "0.7", "--seed", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn generate_keeps_generations_of_a_text_input_in_a_jsonl_output() {
    let tmp = tempfile::tempdir().unwrap();
    let m = import_tiny(tmp.path(), "tiny");
    let input = tmp.path().join("prompts.txt");
    std::fs::write(&input, "To be\nor not\n").unwrap();
    let out = tmp.path().join("out.jsonl");
    let args = ["generate", "--model", &m, "--max-new-tokens", "3", "--input", input.to_str().unwrap()];
    let o = slm(&[&args[..], &["--out", out.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["text"], "To be");
    assert_eq!(lines[1]["text"], "or not");
    for l in &lines {
        assert!(!l["generation"].as_str().unwrap().is_empty(), "{l}");
    }
    // The same run into a .txt file: one generation per line, equal to the JSONL's.
    let txt = tmp.path().join("out.txt");
    let o = slm(&[&args[..], &["--out", txt.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&txt).unwrap();
    let plain: Vec<&str> = text.lines().collect();
    assert_eq!(plain, lines.iter().map(|l| l["generation"].as_str().unwrap()).collect::<Vec<_>>());
    // A plain-text input has no fields to choose from.
    let o = slm(&[&args[..], &["--out", tmp.path().join("x.jsonl").to_str().unwrap(), "--field", "p"]].concat());
    assert_bad_input(&o, &["--field does not apply to a plain-text --input"]);
}

#[test]
fn data_commands_refuse_flags_that_do_not_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let o = slm(&[
        "split",
        dataset("sms_spam/sms_spam.jsonl").to_str().unwrap(),
        "--no-dedup",
        "--near-dup",
        "0.5",
        "--out-dir",
        tmp.path().to_str().unwrap(),
    ]);
    assert_bad_input(&o, &["--near-dup does not apply to --no-dedup"]);
    let o = slm(&["split", dataset("sms_spam/sms_spam.jsonl").to_str().unwrap(), "--no-dedup", "--field", "text"]);
    assert_bad_input(&o, &["--field does not apply to --no-dedup"]);
    assert!(std::fs::read_dir(tmp.path()).unwrap().next().is_none(), "nothing written");
    let o = slm(&[
        "tokenizer",
        "train",
        dataset("tinyshakespeare/input.txt").to_str().unwrap(),
        "--kind",
        "char",
        "--vocab-size",
        "100",
        "--out",
        tmp.path().join("t.json").to_str().unwrap(),
    ]);
    assert_bad_input(&o, &["--vocab-size does not apply to --kind char"]);
    let augment = |extra: &[&str]| {
        let args = ["augment", "datasets/sms_spam/sms_spam.jsonl", "--swap", "0.1", "--out"];
        slm(&[&args[..], &[tmp.path().join("a.jsonl").to_str().unwrap()], extra].concat())
    };
    assert_bad_input(
        &augment(&["--pivot", "de"]),
        &["--pivot does not apply to augment without --back-translate-with"],
    );
    assert_bad_input(
        &augment(&["--synonyms", "x.tsv"]),
        &["--synonyms does not apply to augment without --synonym or --insert"],
    );
    assert!(!tmp.path().join("a.jsonl").exists());
    let f = dataset("tico19_en_fr/tico19-test.fr");
    let o = slm(&["eval", "--metric", "chrf", "--hyp", f.to_str().unwrap(), "--ref", f.to_str().unwrap(), "--force"]);
    assert_bad_input(&o, &["--force does not apply to eval without --save-baseline or --details"]);
}

#[test]
fn export_writes_the_requested_hf_dtype() {
    let tmp = tempfile::tempdir().unwrap();
    let m = import_tiny(tmp.path(), "tiny");
    let greedy = |model: &str| {
        let o = slm(&["generate", "--model", model, "--prompt", "To be", "--max-new-tokens", "6"]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let want = greedy(&m);
    for (dtype, st, torch) in [("f16", "F16", "float16"), ("bf16", "BF16", "bfloat16")] {
        let out = tmp.path().join(dtype);
        let o = slm(&["export", &m, "--format", "hf", "--dtype", dtype, "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let weights = slm_model::io::safetensors::Weights::open(&out.join("model.safetensors")).unwrap();
        for name in weights.names().unwrap() {
            assert_eq!(format!("{:?}", weights.dtype(&name).unwrap().unwrap()), st, "{name}");
        }
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["torch_dtype"], torch);
        // Half the size of the f32 weights, and the model still runs (its greedy text may differ slightly).
        let f32_bytes = std::fs::metadata(std::path::Path::new(&m).join("model.safetensors")).unwrap().len();
        let half_bytes = std::fs::metadata(out.join("model.safetensors")).unwrap().len();
        assert!(half_bytes * 2 < f32_bytes + 4096, "{half_bytes} vs {f32_bytes}");
        assert!(!greedy(out.to_str().unwrap()).is_empty());
    }
    assert!(!want.is_empty());
}

#[test]
fn a_closed_stdout_pipe_ends_quietly_with_success() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("many.txt");
    std::fs::write(&f, "the cat sat on the mat\n".repeat(30_000)).unwrap();
    let f = f.to_str().unwrap();
    // About 200 KB of per-segment scores, far more than a pipe buffers; the reader goes away at once.
    let mut child = Command::new(env!("CARGO_BIN_EXE_slm"))
        .args(["eval", "--metric", "bleu", "--sentence", "--hyp", f, "--ref", f])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}: {err}");
    assert!(!err.contains("error") && !err.contains("panicked"), "{err}");
}

#[test]
fn recipe_choices_are_checked_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = root().join("recipes/tiny-ci.toml");
    let out = tmp.path().join("run");
    let train = |set: &str| {
        slm(&[
            "train",
            recipe.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--set",
            set,
            "--set",
            "train.max_steps=1",
        ])
    };
    assert_bad_input(&train("tokenizer.kind=\"wordpiece\""), &["tokenizer.kind", "unknown variant `wordpiece`"]);
    assert_bad_input(&train("eval.metric=\"bleu\""), &["eval.metric", "unknown variant `bleu`", "rouge_l"]);
    assert_bad_input(&train("backend=\"cuda\""), &["backend", "unknown variant `cuda`", "flex"]);
    assert!(!out.exists());
}
