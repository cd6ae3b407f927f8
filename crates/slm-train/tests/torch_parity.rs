//! slm-train against PyTorch: the same tiny checkpoints, data and hyper-parameters (sequential blocks,
//! batch 4 x accumulation 2, warmup + cosine, global-norm clipping at 0.5, AdamW with decoupled weight
//! decay on matrices only) give the same losses step by step as `torch.optim.AdamW` driving
//! transformers' GPT-2 and Llama (fixtures: crates/slm-model/tests/fixtures/hf/make_fixtures.py).

use std::path::{Path, PathBuf};

use slm_train::trainer::{EvalLog, StepLog};
use slm_train::{Observer, Recipe, RunOptions};

struct Quiet;

impl Observer for Quiet {
    fn start(&mut self, _: u64, _: u64) {}
    fn step(&mut self, _: &StepLog) {}
    fn eval(&mut self, _: &EvalLog) {}
    fn note(&mut self, _: &str) {}
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../slm-model/tests/fixtures/hf")
}

fn recipe(family: &str, out: &Path) -> Recipe {
    let f = fixtures();
    let text = format!(
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
    );
    Recipe::parse(&text, &[]).unwrap()
}

fn check(family: &str) {
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(family, &dir.path().join("run"));
    let summary = slm_train::train(&r, &RunOptions::default(), &mut Quiet).unwrap();
    let exp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join(family).join("expected.json")).unwrap()).unwrap();
    let want: Vec<f64> = exp["losses"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(summary.losses.len(), want.len());
    for (step, (got, want)) in summary.losses.iter().zip(&want).enumerate() {
        assert!((got - want).abs() < 1e-4, "{family} step {}: slm {got} vs torch {want}", step + 1);
    }
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
