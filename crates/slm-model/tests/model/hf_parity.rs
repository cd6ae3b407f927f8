//! slm's Transformer against Hugging Face transformers: tiny random GPT-2 (tied head, fused QKV with
//! biases, LayerNorm, GELU) and Llama (grouped-query attention, RoPE, RMSNorm, SwiGLU, untied head)
//! checkpoints written by `save_pretrained`, and transformers' logits on the same tokens
//! (testdata/hf/make_fixtures.py). Also: `save_pretrained` writes back the same tensors.

use std::path::PathBuf;

use burn::prelude::*;
use slm_model::Transformer;

fn fixture(name: &str) -> PathBuf {
    slm_testkit::testdata("hf").join(name)
}

fn expected(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name).join("expected.json")).unwrap()).unwrap()
}

fn logits_of(model: &Transformer, ids: &[i64]) -> Vec<f32> {
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), model.device());
    model.forward(input, &mut model.cache()).into_data().try_to_vec().unwrap()
}

fn check_family(name: &str) {
    let exp = expected(name);
    let ids: Vec<i64> = exp["input_ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    let want: Vec<f64> = exp["logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let model = Transformer::load(&fixture(name).join("model"), &Device::flex()).unwrap();
    let got = logits_of(&model, &ids);
    assert_eq!(got.len(), want.len());
    let worst = got.iter().zip(&want).map(|(g, w)| (f64::from(*g) - w).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-4, "{name}: largest logit difference {worst}");

    // Cached decoding (one token at a time) gives the same last logits as the full pass.
    let mut cache = model.cache();
    let mut last = Vec::new();
    for &id in &ids {
        let input = Tensor::<2, Int>::from_data(TensorData::new(vec![id], [1, 1]), model.device());
        last = model.forward(input, &mut cache).into_data().try_to_vec::<f32>().unwrap();
    }
    let vocab = exp["vocab"].as_u64().unwrap() as usize;
    let full_last = &got[got.len() - vocab..];
    let worst = last.iter().zip(full_last).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-4, "{name}: cached vs full {worst}");
}

#[test]
fn gpt2_logits_match_transformers() {
    check_family("gpt2");
}

#[test]
fn llama_gqa_logits_match_transformers() {
    check_family("llama");
}

#[test]
fn qwen2_gqa_with_qkv_bias_logits_match_transformers() {
    check_family("qwen2");
}

#[test]
fn phi3_fused_projections_logits_match_transformers() {
    check_family("phi3");
}

#[test]
fn save_pretrained_round_trips_the_tensors() {
    for name in ["gpt2", "llama", "qwen2", "phi3"] {
        let src = fixture(name).join("model");
        let mut model = Transformer::load(&src, &Device::flex()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        slm_model::io::hf::save_pretrained(&mut model, &out, &src, Default::default(), false).unwrap();
        let original = slm_model::io::safetensors::Weights::open(&src.join("model.safetensors")).unwrap();
        let written = slm_model::io::safetensors::Weights::open(&out.join("model.safetensors")).unwrap();
        let mut names = original.names().unwrap();
        names.sort();
        let mut written_names = written.names().unwrap();
        written_names.sort();
        assert_eq!(names, written_names, "{name}");
        for n in &names {
            assert_eq!(original.raw(n).unwrap(), written.raw(n).unwrap(), "{name}: {n}");
        }
        let reloaded = Transformer::load(&out, &Device::flex()).unwrap();
        assert_eq!(reloaded.config, model.config);
    }
}

/// Directories slm wrote (`slm train` final/ models of both families) load in transformers unchanged:
/// its token ids equal slm's tokenizer's, and its logits equal slm's (testdata/hf/check_slm_written.py).
#[test]
fn transformers_loads_what_slm_writes() {
    for name in ["slm_gpt2", "slm_llama"] {
        let exp = expected(name);
        let dir = fixture(name).join("model");
        let tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
        let ids: Vec<i64> = tokenizer
            .encode(exp["text"].as_str().unwrap(), false)
            .unwrap()
            .get_ids()
            .iter()
            .map(|&i| i64::from(i))
            .collect();
        let want_ids: Vec<i64> = exp["input_ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        assert_eq!(ids, want_ids, "{name}: token ids");
        let model = Transformer::load(&dir, &Device::flex()).unwrap();
        let got = logits_of(&model, &ids);
        let want: Vec<f64> = exp["logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let worst = got.iter().zip(&want).map(|(g, w)| (f64::from(*g) - w).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-4, "{name}: largest logit difference {worst}");
    }
}

/// A checkpoint split into shards (`model.safetensors.index.json`) loads to the same model, and
/// `import_hf_dir` merges the shards into one file.
#[test]
fn sharded_checkpoints_load_and_import() {
    let src = fixture("llama").join("model");
    let tmp = tempfile::tempdir().unwrap();
    let sharded = tmp.path().join("sharded");
    std::fs::create_dir(&sharded).unwrap();
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(src.join(f), sharded.join(f)).unwrap();
    }
    let weights = slm_model::io::safetensors::Weights::open(&src.join("model.safetensors")).unwrap();
    let mut names = weights.names().unwrap();
    names.sort();
    let mut map = serde_json::Map::new();
    for (i, chunk) in names.chunks(names.len().div_ceil(2)).enumerate() {
        let file = format!("model-{:05}-of-00002.safetensors", i + 1);
        let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = chunk
            .iter()
            .map(|n| {
                let (shape, values) = weights.raw(n).unwrap().unwrap();
                (n.clone(), shape, values)
            })
            .collect();
        slm_model::io::safetensors::write_safetensors(
            tensors.iter().map(|(n, s, v)| (n.as_str(), s.as_slice(), v.as_slice())),
            &sharded.join(&file),
        )
        .unwrap();
        for n in chunk {
            map.insert(n.clone(), serde_json::json!(file));
        }
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(sharded.join("model.safetensors.index.json"), index.to_string()).unwrap();

    let ids: Vec<i64> = (0..12).collect();
    let whole = logits_of(&Transformer::load(&src, &Device::flex()).unwrap(), &ids);
    let from_shards = logits_of(&Transformer::load(&sharded, &Device::flex()).unwrap(), &ids);
    assert_eq!(whole, from_shards);
    let out = tmp.path().join("imported");
    slm_model::io::hf::import_hf_dir(&sharded, &out, false).unwrap();
    // Every family's directory imports.
    for name in ["gpt2", "qwen2", "phi3"] {
        let dest = tmp.path().join(format!("imported-{name}"));
        let summary = slm_model::io::hf::import_hf_dir(&fixture(name).join("model"), &dest, false).unwrap();
        assert!(summary.parameters > 0, "{name}");
    }
    assert!(out.join("model.safetensors").is_file() && !out.join("model.safetensors.index.json").exists());
    assert_eq!(logits_of(&Transformer::load(&out, &Device::flex()).unwrap(), &ids), whole);
}
