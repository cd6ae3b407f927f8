//! LoRA and distillation through the `slm` binary on the tiny fixture models: a LoRA run writes a PEFT
//! adapter that `slm generate` takes as a model and `slm export --merge-lora` folds into an HF directory
//! generating the same text; distillation runs from a recipe; bad LoRA and teacher settings fail with one
//! sentence and exit 2.

use std::path::{Path, PathBuf};

use crate::util::{assert_bad_input, slm, stderr, stdout, testdata};

fn fixture(family: &str) -> PathBuf {
    testdata("hf").join(family).join("model")
}

/// A short run on the fixture data: `model` is the `[model]` section's body, `extra` more sections.
fn recipe(dir: &Path, model: &str, extra: &str) -> PathBuf {
    let data = testdata("hf/data.txt");
    let text = format!(
        "out = {out:?}\n[model]\n{model}\n[data]\ntrain = {data:?}\nmax_length = 16\n[optimizer]\nlr = 1e-2\n\
         [schedule]\nwarmup_steps = 0\n[train]\nbatch_size = 4\nmax_steps = 4\n[eval]\nevery = 1000\nbatches = 1\n{extra}",
        out = dir.join("run").display().to_string(),
        data = data.display().to_string(),
    );
    let path = dir.join("recipe.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn from(family: &str) -> String {
    format!("from = {:?}", fixture(family).display().to_string())
}

#[test]
fn lora_adapters_generate_and_merge_into_the_same_model() {
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe(tmp.path(), &from("llama"), "[lora]\nrank = 4\nalpha = 8.0\ntargets = [\"q_proj\", \"v_proj\"]\n");
    let o = slm(&["train", r.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    // 2 layers x (q: 32x4 + 4x32, v: 32x4 + 4x16) adapter values.
    assert_eq!(summary["trainable_parameters"], 2 * (32 * 4 + 4 * 32 + 32 * 4 + 4 * 16));
    let adapter = tmp.path().join("run/final");
    assert!(adapter.join("adapter_config.json").is_file());

    let generate = |model: &Path| {
        let o = slm(&["generate", "--model", model.to_str().unwrap(), "--prompt", "ROMEO:", "--max-new-tokens", "12"]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let from_adapter = generate(&adapter);
    let base = generate(&fixture("llama"));
    assert_ne!(from_adapter, base, "the trained adapter changes nothing");

    let merged = tmp.path().join("merged");
    let o = slm(&["export", adapter.to_str().unwrap(), "--out", merged.to_str().unwrap()]);
    assert_bad_input(&o, &["is a LoRA adapter", "--merge-lora"]);
    let o = slm(&["export", adapter.to_str().unwrap(), "--merge-lora", "--out", merged.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(merged.join("config.json").is_file() && !merged.join("adapter_config.json").exists());
    assert_eq!(generate(&merged), from_adapter);

    // slm eval takes the adapter directory as a model too: the exported model is the adapter's function.
    let data = testdata("hf/data.txt");
    let o = slm(&[
        "eval",
        "--metric",
        "perplexity",
        "--model",
        merged.to_str().unwrap(),
        "--reference-model",
        adapter.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["kl_from_reference"].as_f64().unwrap() < 1e-6, "{v}");
}

#[test]
fn bad_lora_and_teacher_settings_exit_2_with_one_sentence() {
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe(tmp.path(), &from("llama"), "[lora]\ntargets = [\"c_attn\"]\n");
    assert_bad_input(&slm(&["train", r.to_str().unwrap()]), &["selects none", "q_proj"]);
    assert!(!tmp.path().join("run").exists(), "a run that could not start left files");

    let r = recipe(tmp.path(), "layers = 1\nhidden = 32\nheads = 2", "[lora]\nrank = 2\n");
    assert_bad_input(&slm(&["train", r.to_str().unwrap()]), &["[lora]", "model.from"]);

    // A teacher with another tokenizer: the GPT-2 fixture's, trained from scratch by the run.
    let r = recipe(
        tmp.path(),
        "layers = 1\nhidden = 32\nheads = 2",
        &format!(
            "[tokenizer]\nkind = \"bpe\"\nvocab_size = 300\n[distill]\nteacher = {:?}\n",
            fixture("gpt2").display().to_string()
        ),
    );
    assert_bad_input(&slm(&["train", r.to_str().unwrap()]), &["teacher's tokenizer differs from the student's"]);

    let r = recipe(tmp.path(), "layers = 1\nhidden = 32\nheads = 2", "[distill]\nteacher = \"x\"\nalpha = 1.5\n");
    assert_bad_input(&slm(&["train", r.to_str().unwrap()]), &["distill.alpha must be in [0, 1], got 1.5"]);

    // Export: an unknown format or storage type, and a GGUF of a model llama.cpp's `llama` cannot hold.
    let out = tmp.path().join("x.gguf");
    let gpt2 = fixture("gpt2");
    let export = |extra: &[&str]| {
        slm(&[&["export", gpt2.to_str().unwrap(), "--out", out.to_str().unwrap()][..], extra].concat())
    };
    assert_bad_input(
        &export(&["--format", "onnx"]),
        &["invalid value 'onnx' for '--format", "possible values: hf, gguf"],
    );
    assert_bad_input(
        &export(&["--format", "gguf", "--dtype", "q4_k"]),
        &["invalid value 'q4_k' for '--dtype", "possible values: f32, f16, bf16, q8_0"],
    );
    assert_bad_input(
        &export(&["--format", "gguf", "--dtype", "bf16"]),
        &["--dtype bf16 does not apply to --format gguf"],
    );
    assert_bad_input(&export(&["--format", "hf", "--dtype", "q8_0"]), &["--dtype q8_0 does not apply to --format hf"]);
    assert_bad_input(&export(&["--format", "gguf"]), &["a GPT-2 model is not supported"]);
    assert!(!out.exists());
}

#[test]
fn distillation_trains_a_student_from_a_teacher_with_its_tokenizer() {
    let tmp = tempfile::tempdir().unwrap();
    let teacher = fixture("gpt2");
    let tokenizer = teacher.join("tokenizer.json");
    let model = "family = \"llama\"\nlayers = 1\nhidden = 32\nheads = 2";
    let section = |alpha: f64| {
        format!(
            "[tokenizer]\npath = {:?}\n[distill]\nteacher = {:?}\nalpha = {alpha}\ntemperature = 2.0\n",
            tokenizer.display().to_string(),
            teacher.display().to_string()
        )
    };
    let run = |alpha: f64| -> Vec<f64> {
        let dir = tmp.path().join(format!("alpha-{alpha}"));
        std::fs::create_dir_all(&dir).unwrap();
        let r = recipe(&dir, model, &section(alpha));
        let o = slm(&["train", r.to_str().unwrap(), "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = std::fs::read_to_string(dir.join("run/metrics.csv")).unwrap();
        text.lines()
            .skip(1)
            .filter(|l| l.contains(",train,"))
            .map(|l| l.split(',').nth(3).unwrap().parse().unwrap())
            .collect()
    };
    let labels = run(0.0);
    let distilled = run(0.5);
    assert_eq!(labels.len(), distilled.len());
    // Same student, data and seed: the teacher's term changes the loss from the first step on.
    assert!(
        distilled.iter().zip(&labels).all(|(d, l)| d.is_finite() && (d - l).abs() > 1e-6),
        "{distilled:?} vs {labels:?}"
    );
}
