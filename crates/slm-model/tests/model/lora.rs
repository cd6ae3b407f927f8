//! LoRA adapters against PEFT: an adapter PEFT wrote (random A and B, so it changes the model) loads onto
//! its base and gives PEFT's logits; merging it into the base weights gives the same logits; adapters
//! slm wrote are read by PEFT with every tensor in place and give slm's logits there
//! (fixtures: testdata/hf/make_lora_fixtures.py).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use slm_model::Transformer;
use slm_model::nn::LoraConfig;

fn fixture(family: &str) -> PathBuf {
    slm_testkit::testdata("hf").join(family)
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn ids(family: &str) -> Vec<i64> {
    json(&fixture(family).join("lora_expected.json"))["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

fn logits_of(model: &Transformer, ids: &[i64]) -> Vec<f32> {
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), model.device());
    model.forward(input, &mut model.cache()).into_data().try_to_vec().unwrap()
}

fn worst(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).map(|(g, w)| (f64::from(*g) - w).abs()).fold(0.0, f64::max)
}

fn check_peft_adapter(family: &str) {
    let adapter = fixture(family).join("lora_init");
    // The adapter directory loads as a model: its base model with the adapters attached.
    let mut model = Transformer::load(&adapter, &Device::flex()).unwrap();
    assert!(model.lora.is_some());
    let got = logits_of(&model, &ids(family));
    let want = floats(&json(&fixture(family).join("lora_expected.json"))["logits"]);
    let diff = worst(&got, &want);
    assert!(diff < 1e-4, "{family}: slm vs PEFT logits differ by {diff}");

    // The adapter really changes the model: the base alone is far from PEFT's logits.
    let base = Transformer::load(&fixture(family).join("model"), &Device::flex()).unwrap();
    assert!(worst(&logits_of(&base, &ids(family)), &want) > 1e-2, "{family}: the adapter changes nothing");

    // Merged into the base weights, the same function.
    model.merge_lora();
    assert!(model.lora.is_none());
    let merged: Vec<f64> = logits_of(&model, &ids(family)).into_iter().map(f64::from).collect();
    let diff = worst(&got, &merged);
    assert!(diff < 1e-5, "{family}: merged vs unmerged logits differ by {diff}");
}

#[test]
fn gpt2_conv1d_adapter_from_peft_gives_peft_logits_merged_or_not() {
    check_peft_adapter("gpt2");
}

#[test]
fn llama_adapter_from_peft_gives_peft_logits_merged_or_not() {
    check_peft_adapter("llama");
}

/// Adapters written by `slm train` (committed with PEFT's logits of them, `--check-slm`): PEFT found exactly
/// the tensors it expects, and its logits are slm's.
#[test]
fn peft_reads_the_adapters_slm_writes() {
    for family in ["gpt2", "llama"] {
        let adapter = fixture(family).join("lora_slm");
        let model = Transformer::load(&adapter, &Device::flex()).unwrap();
        let want = floats(&json(&adapter.join("peft_logits.json"))["logits"]);
        let diff = worst(&logits_of(&model, &ids(family)), &want);
        assert!(diff < 1e-4, "{family}: PEFT's logits of slm's adapter differ from slm's by {diff}");
    }
}

#[test]
fn targets_that_select_nothing_name_the_module_kinds() {
    let mut model = Transformer::load(&fixture("llama").join("model"), &Device::flex()).unwrap();
    let cfg = LoraConfig { rank: 2, alpha: 4.0, dropout: 0.0, targets: vec!["c_attn".into()], from: None };
    let err = model.attach_lora(&cfg, 0).unwrap_err().to_string();
    assert!(err.contains("selects none of the model's linear modules"), "{err}");
    assert!(err.contains("q_proj") && err.contains("down_proj"), "{err}");

    // all-linear adapts every linear layer of the blocks: 7 per Llama block.
    let cfg = LoraConfig { targets: vec!["all-linear".into()], ..cfg };
    let adapted = model.attach_lora(&cfg, 0).unwrap();
    assert_eq!(adapted.len(), 7 * model.config.num_layers);
    // Fresh adapters start with B = 0: the model is unchanged.
    let base = Transformer::load(&fixture("llama").join("model"), &Device::flex()).unwrap();
    let ids = ids("llama");
    let same = worst(&logits_of(&model, &ids), &logits_of(&base, &ids).into_iter().map(f64::from).collect::<Vec<_>>());
    assert_eq!(same, 0.0);
    // Only the adapters train: 2 layers x 7 modules x (A + B).
    assert_eq!(model.trainable().len(), 2 * 7 * 2);
}
