//! `Transformer::attention_weights` equals transformers' `output_attentions=True` (eager attention) on the
//! four tiny fixture families (GPT-2; Llama and Qwen2 with grouped-query attention; Phi-3 with fused qkv):
//! `testdata/hf/attention_expected.json`, made by `testdata/hf/make_attention_fixtures.py`.

use burn::prelude::*;
use slm_model::Transformer;

#[test]
fn attention_weights_equal_transformers_eager_attentions() {
    let path = slm_testkit::testdata("hf/attention_expected.json");
    let expected: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (name, case) in expected.as_object().unwrap() {
        let dir = slm_testkit::testdata("hf").join(name).join("model");
        let model = Transformer::load(&dir, &Device::flex()).unwrap();
        let ids: Vec<i64> = case["ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        let t = ids.len();
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, t]), &Device::flex());
        let (_, layers) = model.attention_weights(tokens);
        let want = case["attentions"].as_array().unwrap();
        assert_eq!(layers.len(), want.len(), "{name}: layers");
        let mut worst = 0f32;
        for (l, (got, want)) in layers.into_iter().zip(want).enumerate() {
            let [_, heads, q, k] = got.dims();
            assert_eq!([q, k], [t, t], "{name}");
            let got: Vec<f32> = got.into_data().try_to_vec().unwrap();
            let want: Vec<f32> = want
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|h| h.as_array().unwrap())
                .flat_map(|r| r.as_array().unwrap())
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(got.len(), want.len(), "{name} layer {l}: {heads} heads");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                worst = worst.max((g - w).abs());
                let (row, col) = ((i / t) % t, i % t);
                if col > row {
                    assert_eq!(*g, 0.0, "{name} layer {l}: a causal model attends to a later token");
                }
            }
            for row in got.chunks_exact(t) {
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{name} layer {l}: a row does not sum to 1");
            }
        }
        assert!(worst < 1e-4, "{name}: largest difference {worst}");
    }
}
