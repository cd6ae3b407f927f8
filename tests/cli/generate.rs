//! `slm generate` end to end with the real SmolLM2-135M-Instruct (imported from its GGUF).

use std::path::PathBuf;

use crate::util::*;

/// The SmolLM2 GGUF (slm_testkit::model: SLM_MODELS_DIR, ../shared/models, or fetched into models/).
fn smollm2_gguf() -> PathBuf {
    slm_testkit::model(slm_testkit::SMOLLM2_GGUF)
}

#[test]
fn smollm2_answers_a_chat_question_and_prefers_real_text() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("smollm2");
    let o = slm(&["import", smollm2_gguf().to_str().unwrap(), "--out", model.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Perplexity: real scientific prose against the same words sorted alphabetically.
    let abstracts: Vec<String> = std::fs::read_to_string(dataset("scitldr/test.jsonl"))
        .unwrap()
        .lines()
        .take(5)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["source"].as_array().unwrap()[..3]
                .iter()
                .map(|s| s.as_str().unwrap().trim())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let sorted: Vec<String> = abstracts
        .iter()
        .map(|t| {
            let mut w: Vec<&str> = t.split_whitespace().collect();
            w.sort_unstable();
            w.join(" ")
        })
        .collect();
    let ppl = |name: &str, texts: &[String]| {
        let path = dir.path().join(name);
        std::fs::write(&path, texts.join("\n") + "\n").unwrap();
        let o = slm(&[
            "eval",
            "--metric",
            "perplexity",
            "--model",
            model.to_str().unwrap(),
            "--data",
            path.to_str().unwrap(),
            "--window",
            "256",
            "--json",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        json(&o)["perplexity"].as_f64().unwrap()
    };
    let (real, scrambled) = (ppl("real.txt", &abstracts), ppl("sorted.txt", &sorted));
    assert!(real < 120.0 && scrambled > 4.0 * real, "real {real}, scrambled {scrambled}");
    let o = slm(&[
        "generate",
        "--model",
        model.to_str().unwrap(),
        "--chat",
        "--prompt",
        "What is the capital of France?",
        "--max-new-tokens",
        "24",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let answer = stdout(&o);
    assert!(answer.contains("Paris"), "answer: {answer}");
    assert!(!answer.contains("<|im_end|>") && !answer.contains("<|im_start|>"), "special tokens leaked: {answer}");

    // A file of chat prompts through dynamic batching: the answers equal one-by-one generation.
    let prompts = dir.path().join("prompts.jsonl");
    let questions = ["What is the capital of France?", "Name a primary colour.", "What is 2 + 2?"];
    let lines: String = questions.iter().map(|q| serde_json::json!({"prompt": q}).to_string() + "\n").collect();
    std::fs::write(&prompts, lines).unwrap();
    let run = |batch: &str, out: &str| {
        let out = dir.path().join(out);
        let o = slm(&[
            "generate",
            "--model",
            model.to_str().unwrap(),
            "--chat",
            "--input",
            prompts.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--max-new-tokens",
            "16",
            "--batch-size",
            batch,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read_to_string(out).unwrap()
    };
    let (single, batched) = (run("1", "single.jsonl"), run("3", "batched.jsonl"));
    assert_eq!(single, batched);
    assert!(single.lines().next().unwrap().contains("Paris"), "{single}");

    // Back-translation augmentation keeps the round trip as a new record (op back_translation).
    let data = dir.path().join("bt.jsonl");
    std::fs::write(&data, "{\"text\": \"The cat sat on the mat.\"}\n").unwrap();
    let out = dir.path().join("bt.out.jsonl");
    let o = slm(&[
        "augment",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--back-translate-with",
        model.to_str().unwrap(),
        "--pivot",
        "fr",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> =
        std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1]["op"], "back_translation");
    assert_eq!(rows[1]["augmented_from"], 1);
    assert!(!rows[1]["text"].as_str().unwrap().is_empty());
}

#[test]
fn generate_bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let o = slm(&["generate", "--model", dir.path().join("none").to_str().unwrap(), "--prompt", "hi"]);
    assert_bad_input(&o, &["config.json"]);
    let model = dir.path().join("tiny");
    let tiny = testdata("gguf/tiny.gguf");
    assert!(slm(&["import", tiny.to_str().unwrap(), "--out", model.to_str().unwrap()]).status.success());
    let m = model.to_str().unwrap();
    assert_bad_input(&slm(&["generate", "--model", m, "--prompt", "hi", "--top-p", "0"]), &["--top-p"]);
    assert_bad_input(
        &slm(&["generate", "--model", m, "--prompt", "hi", "--strategy", "beam", "--beams", "0"]),
        &["--beams"],
    );
    assert_bad_input(&slm(&["generate", "--model", m, "--prompt", "hi", "--strategy", "nucleus"]), &["nucleus"]);
    assert_bad_input(&slm(&["generate", "--model", m, "--prompt", ""]), &["empty"]);
    // A backend this build does not have (the default build has flex only).
    assert_bad_input(&slm(&["generate", "--model", m, "--prompt", "hi", "--backend", "wgpu"]), &["--features wgpu"]);
    // A prompt longer than the model's context.
    let long = "to be or not ".repeat(400);
    assert_bad_input(&slm(&["generate", "--model", m, "--prompt", &long]), &["the model's context is"]);
    // A config.json without a key, and a tokenizer.json that does not parse.
    let broken = dir.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(model.join(f), broken.join(f)).unwrap();
    }
    let b = broken.to_str().unwrap();
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("config.json")).unwrap()).unwrap();
    config.as_object_mut().unwrap().remove("hidden_size");
    std::fs::write(broken.join("config.json"), config.to_string()).unwrap();
    assert_bad_input(&slm(&["generate", "--model", b, "--prompt", "hi"]), &["config.json", "`hidden_size` is missing"]);
    std::fs::copy(model.join("config.json"), broken.join("config.json")).unwrap();
    std::fs::write(broken.join("tokenizer.json"), "{ not json").unwrap();
    assert_bad_input(&slm(&["generate", "--model", b, "--prompt", "hi"]), &["tokenizer.json", "not a valid tokenizer"]);
    // Sampling with a seed is reproducible through the CLI.
    let sample = || {
        let o = slm(&[
            "generate",
            "--model",
            m,
            "--prompt",
            "To be",
            "--strategy",
            "sample",
            "--seed",
            "5",
            "--max-new-tokens",
            "8",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    assert_eq!(sample(), sample());
}
