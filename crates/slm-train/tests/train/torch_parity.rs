//! slm-train against PyTorch: the same tiny checkpoints, data and hyper-parameters (sequential blocks,
//! batch 4 x accumulation 2, warmup + cosine, global-norm clipping at 0.5, AdamW with decoupled weight
//! decay on matrices only) give the same losses step by step as `torch.optim.AdamW` driving
//! transformers' GPT-2 and Llama (fixtures: crates/slm-model/testdata/hf/make_fixtures.py), and
//! the same with LoRA adapters on a frozen base as PEFT (make_lora_fixtures.py).

use std::path::{Path, PathBuf};

use slm_train::trainer::Silent;
use slm_train::{Recipe, RunOptions};

fn fixtures() -> PathBuf {
    slm_testkit::testdata("hf")
}

fn recipe(family: &str, out: &Path) -> Recipe {
    Recipe::parse(&recipe_text(family, out), &[]).unwrap()
}

fn recipe_text(family: &str, out: &Path) -> String {
    let f = fixtures();
    format!(
        r#"
out = {out:?}
[model]
from = {model:?}
[data]
train = {data:?}
val_fraction = 0.1
max_length = 16
shuffle = false
[optimizer]
lr = 1e-2
beta1 = 0.9
beta2 = 0.95
eps = 1e-8
weight_decay = 0.1
grad_clip = 0.5
[schedule]
decay = "cosine"
warmup_steps = 2
min_lr = 1e-3
[train]
batch_size = 4
grad_accum = 2
max_steps = 6
[eval]
every = 1000
batches = 1
"#,
        out = out.display().to_string(),
        model = f.join(family).join("model").display().to_string(),
        data = f.join("data.txt").display().to_string(),
    )
}

/// The run of [`recipe`] training only adapters: those PEFT initialised (`lora_init`), or fresh ones.
fn lora_recipe(family: &str, out: &Path, lora: &str) -> Recipe {
    Recipe::parse(&format!("{}\n[lora]\n{lora}\n", recipe_text(family, out)), &[]).unwrap()
}

fn check(family: &str) {
    let dir = tempfile::tempdir().unwrap();
    check_losses(&recipe(family, &dir.path().join("run")), family, "expected.json");
}

fn check_losses(r: &Recipe, family: &str, expected: &str) -> slm_train::Summary {
    let summary = slm_train::train(r, &RunOptions::default(), &mut Silent).unwrap();
    let exp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join(family).join(expected)).unwrap()).unwrap();
    let want: Vec<f64> = exp["losses"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(summary.losses.len(), want.len());
    for (step, (got, want)) in summary.losses.iter().zip(&want).enumerate() {
        assert!((got - want).abs() < 1e-4, "{family} step {}: slm {got} vs torch {want}", step + 1);
    }
    summary
}

#[test]
fn gpt2_training_matches_pytorch() {
    check("gpt2");
}

#[test]
fn llama_training_matches_pytorch() {
    check("llama");
}

#[test]
fn qwen2_training_matches_pytorch() {
    check("qwen2");
}

#[test]
fn phi3_training_matches_pytorch() {
    check("phi3");
}

fn lora_from_peft(family: &str) -> String {
    let init = fixtures().join(family).join("lora_init");
    format!("rank = 4\nalpha = 8.0\nfrom = {:?}", init.display().to_string())
}

fn check_lora(family: &str) {
    let dir = tempfile::tempdir().unwrap();
    let r = lora_recipe(family, &dir.path().join("run"), &lora_from_peft(family));
    let summary = check_losses(&r, family, "lora_expected.json");
    // Only the adapters trained (r 4 on 2 layers), and final/ is a PEFT adapter directory.
    assert!(summary.trainable_parameters * 20 < summary.parameters, "{summary:?}");
    let final_dir = summary.final_model.unwrap();
    assert!(final_dir.join("adapter_config.json").is_file() && !final_dir.join("model.safetensors").exists());
    let names = slm_model::io::safetensors::Weights::open(&final_dir.join("adapter_model.safetensors"))
        .unwrap()
        .names()
        .unwrap();
    assert!(names.iter().all(|n| n.starts_with("base_model.model.") && n.contains(".lora_")), "{names:?}");
}

#[test]
fn gpt2_lora_training_matches_peft() {
    check_lora("gpt2");
}

#[test]
fn llama_lora_training_matches_peft() {
    check_lora("llama");
}

/// Stopping after 3 steps and resuming gives every loss of the straight 6-step run and the same adapter,
/// bit for bit, with adapter dropout on (its masks are drawn again identically).
#[test]
fn lora_resume_with_dropout_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let lora = "rank = 2\nalpha = 4.0\ndropout = 0.1\ntargets = [\"all-linear\"]";
    let straight = lora_recipe("llama", &dir.path().join("straight"), lora);
    let all = slm_train::train(&straight, &RunOptions::default(), &mut Silent).unwrap();
    let split = lora_recipe("llama", &dir.path().join("split"), lora);
    let first =
        slm_train::train(&split, &RunOptions { stop_after: Some(3), ..Default::default() }, &mut Silent).unwrap();
    let rest = slm_train::train(&split, &RunOptions { resume: true, ..Default::default() }, &mut Silent).unwrap();
    let joined: Vec<f64> = first.losses.iter().chain(&rest.losses).copied().collect();
    assert_eq!(joined, all.losses);
    let read = |p: PathBuf| std::fs::read(p.join("adapter_model.safetensors")).unwrap();
    assert_eq!(read(all.final_model.unwrap()), read(rest.final_model.unwrap()));
    // Dropout is really on: the same run without it has other losses.
    let plain = lora_recipe("llama", &dir.path().join("plain"), &lora.replace("dropout = 0.1", "dropout = 0.0"));
    let plain = slm_train::train(&plain, &RunOptions::default(), &mut Silent).unwrap();
    assert_ne!(plain.losses[1..], all.losses[1..]);
}
