//! Failures that must be said, not swallowed: broken optional files of a model directory, a damaged
//! metrics history, a failed back-translation; and the training features that end a run early or draw it.

use std::path::Path;

use crate::util::*;

#[test]
fn broken_optional_files_of_a_model_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let m = import_tiny(tmp.path(), "tiny");
    let generate = |model: &str| slm(&["generate", "--model", model, "--prompt", "To be", "--max-new-tokens", "2"]);
    let model = Path::new(&m);
    std::fs::write(model.join("generation_config.json"), "{ \"eos_token_id\": ").unwrap();
    assert_bad_input(&generate(&m), &["generation_config.json", "not valid JSON"]);
    std::fs::write(model.join("generation_config.json"), "[1, 2]").unwrap();
    assert_bad_input(&generate(&m), &["generation_config.json", "is not a JSON object"]);
    std::fs::remove_file(model.join("generation_config.json")).unwrap();
    std::fs::write(model.join("tokenizer_config.json"), "not json").unwrap();
    assert_bad_input(&generate(&m), &["tokenizer_config.json", "not valid JSON"]);

    // Export needs the tokenizer: a model directory without tokenizer.json is refused, nothing written.
    let m2 = import_tiny(tmp.path(), "tiny2");
    std::fs::remove_file(Path::new(&m2).join("tokenizer.json")).unwrap();
    let out = tmp.path().join("out");
    let o = slm(&["export", &m2, "--out", out.to_str().unwrap()]);
    assert_bad_input(&o, &["tokenizer.json"]);
    assert!(!out.exists());
}

#[test]
fn a_damaged_metrics_history_stops_a_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let r = run.to_str().unwrap();
    let short = ["--set", "train.max_steps=6", "--set", "eval.every=3", "--set", "checkpoint.every=3"];
    let o = slm(&[&["train", "recipes/tiny-ci.toml", "--out", r, "--stop-after", "3"][..], &short].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let metrics = run.join("metrics.csv");
    let text = std::fs::read_to_string(&metrics).unwrap();
    std::fs::write(&metrics, text + "garbage,row\n").unwrap();
    // The run says where it resumes from, then stops with the sentence.
    let o = slm(&["train", "--resume", r]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    let last = err.lines().last().unwrap();
    assert!(last.starts_with("error: ") && last.contains("metrics.csv: line 6: not a row of metrics.csv"), "{err}");
}

#[test]
fn a_failed_back_translation_is_a_warning_and_a_count() {
    let tmp = tempfile::tempdir().unwrap();
    let m = import_tiny(tmp.path(), "tiny");
    // The second text is longer than the tiny model's context: its round trip cannot run.
    let data = tmp.path().join("d.jsonl");
    let long = "to be or not ".repeat(400);
    let lines = [serde_json::json!({"text": "to be or not to be"}), serde_json::json!({"text": long})];
    std::fs::write(&data, lines.iter().map(|l| l.to_string() + "\n").collect::<String>()).unwrap();
    let out = tmp.path().join("aug.jsonl");
    let o = slm(&[
        "augment",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--back-translate-with",
        &m,
        "--copies",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("line 2: back_translation failed, the copy is skipped"), "{err}");
    assert!(err.contains("context"), "{err}");
    assert!(err.contains("1 failed (see the warnings)"), "{err}");
}

#[test]
fn early_stopping_ends_a_run_that_stops_improving() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    // With a learning rate far below f32 resolution the weights never change: no evaluation improves.
    let sets = [
        "optimizer.lr=1e-30",
        "schedule.min_lr=0.0",
        "train.max_steps=40",
        "eval.every=2",
        "eval.batches=2",
        "eval.patience=2",
    ];
    let mut args = vec!["train", "recipes/tiny-ci.toml", "--out", run.to_str().unwrap(), "--json"];
    for s in &sets {
        args.extend(["--set", s]);
    }
    let o = slm(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("early stopping at step 6: no better loss in 2 evaluations"), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(summary["steps"], 6);
    assert!(run.join("final/config.json").is_file() && run.join("best/config.json").is_file());
}

#[test]
fn plot_draws_the_training_and_validation_curves() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let o = slm(&[
        "train",
        "recipes/tiny-ci.toml",
        "--out",
        run.to_str().unwrap(),
        "--set",
        "train.max_steps=20",
        "--set",
        "eval.every=5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let png_path = tmp.path().join("curves.png");
    let o = slm(&["plot", run.to_str().unwrap(), "--out", png_path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png_path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (1000, 760));
    let channels = info.line_size / info.width as usize;
    let count = |rgb: [u8; 3]| pixels.chunks_exact(channels).filter(|p| p[..3] == rgb).count();
    // The training curve is blue, the validation curve and its points red: both are drawn.
    assert!(count([0, 0, 255]) > 200, "training curve: {} blue pixels", count([0, 0, 255]));
    assert!(count([255, 0, 0]) > 100, "validation curve: {} red pixels", count([255, 0, 0]));
    // An empty run directory is refused.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_bad_input(
        &slm(&["plot", empty.to_str().unwrap(), "--out", tmp.path().join("x.png").to_str().unwrap()]),
        &["metrics.csv"],
    );
}
