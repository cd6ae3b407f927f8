//! The same recipe on another Burn backend gives the default CPU backend's losses: `recipes/tiny-ci.toml`
//! for 20 steps on flex and on each backend compiled in (`cargo test -p slm-train --features
//! wgpu --test train backends`; `--features ndarray` likewise). Without those features there is nothing to
//! compare and the file holds no test.
#![cfg(any(feature = "wgpu", feature = "ndarray"))]

use std::path::Path;

use slm_train::trainer::Silent;
use slm_train::{Recipe, RunOptions};

fn losses(backend: &str, out: &Path) -> Vec<f64> {
    let root = slm_testkit::root();
    let text = std::fs::read_to_string(root.join("recipes/tiny-ci.toml")).unwrap();
    let train = root.join("datasets/tinyshakespeare/input.txt");
    let overrides = [
        format!("backend={backend}"),
        format!("out={:?}", out.display().to_string()),
        format!("data.train={:?}", train.display().to_string()),
        "train.max_steps=20".to_owned(),
    ];
    let recipe = Recipe::parse(&text, &overrides).unwrap();
    slm_train::train(&recipe, &RunOptions::default(), &mut Silent).unwrap().losses
}

fn check(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let flex = losses("flex", &dir.path().join("flex"));
    let other = losses(backend, &dir.path().join(backend));
    assert_eq!(flex.len(), other.len());
    for (step, (a, b)) in flex.iter().zip(&other).enumerate() {
        assert!((a - b).abs() < 1e-3, "step {}: flex {a} vs {backend} {b}", step + 1);
    }
}

#[cfg(feature = "wgpu")]
#[test]
fn wgpu_trains_like_the_cpu_backend() {
    check("wgpu");
}

#[cfg(feature = "ndarray")]
#[test]
fn ndarray_trains_like_the_cpu_backend() {
    check("ndarray");
}
