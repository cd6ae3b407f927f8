//! SmolLM2-135M-Instruct imported by slm against the same GGUF loaded by `transformers`: the imported
//! tokenizer gives identical token ids on ~300 real lines (English, code, Chinese, Japanese, emoji,
//! whitespace runs, French, German), and the imported model's logits match (testdata/smollm2/make_fixture.py).

use std::path::PathBuf;

use burn::prelude::*;
use slm_model::Transformer;

/// The SmolLM2 GGUF (slm_testkit::model: SLM_MODELS_DIR, ../shared/models, or fetched into models/).
fn smollm2_gguf() -> PathBuf {
    slm_testkit::model(slm_testkit::SMOLLM2_GGUF)
}

#[test]
fn smollm2_import_matches_transformers() {
    let exp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(slm_testkit::testdata("smollm2/expected.json")).unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("smollm2");
    slm_model::io::gguf::import_gguf(&smollm2_gguf(), &out, false).unwrap();

    let tokenizer = tokenizers::Tokenizer::from_file(out.join("tokenizer.json")).unwrap();
    let texts = exp["texts"].as_array().unwrap();
    assert!(texts.len() >= 250);
    for (text, want) in texts.iter().zip(exp["ids"].as_array().unwrap()) {
        let text = text.as_str().unwrap();
        let got: Vec<u64> = tokenizer.encode(text, false).unwrap().get_ids().iter().map(|&i| u64::from(i)).collect();
        let want: Vec<u64> = want.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        assert_eq!(got, want, "token ids of {text:?}");
    }

    let model = Transformer::load(&out, &Device::flex()).unwrap();
    let ids: Vec<i64> = exp["prompt_ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [1, ids.len()]), model.device());
    let logits: Vec<f32> = model.forward(input, &mut model.cache()).into_data().try_to_vec().unwrap();
    let vocab = logits.len() / ids.len();
    let mut worst = 0.0f64;
    for (t, row) in exp["head_logits"].as_array().unwrap().iter().enumerate() {
        for (v, want) in row.as_array().unwrap().iter().enumerate() {
            worst = worst.max((f64::from(logits[t * vocab + v]) - want.as_f64().unwrap()).abs());
        }
    }
    for (t, (top, vals)) in
        exp["top_ids"].as_array().unwrap().iter().zip(exp["top_logits"].as_array().unwrap()).enumerate()
    {
        for (id, want) in top.as_array().unwrap().iter().zip(vals.as_array().unwrap()) {
            let id = id.as_u64().unwrap() as usize;
            worst = worst.max((f64::from(logits[t * vocab + id]) - want.as_f64().unwrap()).abs());
        }
    }
    println!("largest logit difference against transformers: {worst:e}");
    assert!(worst < 1e-4, "largest logit difference {worst}");
}

/// transformers' beam search on SmolLM2 (peaked distributions: when the search stops decides what it
/// returns): every case of testdata/smollm2/beam_expected.json.
#[test]
fn smollm2_beam_search_equals_transformers_generate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("smollm2");
    slm_model::io::gguf::import_gguf(&smollm2_gguf(), &out, false).unwrap();
    let fixture = slm_testkit::testdata("smollm2/beam_expected.json");
    let (early, full) =
        crate::generate::check_beam_cases(&fixture, |_| Transformer::load(&out, &Device::flex()).unwrap());
    assert!(early >= 10 && full >= 10, "the cases cover stopped ({early}) and full-length ({full}) winners");
}
