//! The heads: a causal LM never looks ahead, a masked LM looks both ways, a classifier reads the last real
//! token of each row.

use burn::prelude::*;
use slm_model::{Config, Family, Head, Transformer};

fn config(family: Family, head: Head) -> Config {
    Config {
        family,
        head,
        vocab_size: 40,
        hidden_size: 16,
        intermediate_size: 32,
        num_layers: 2,
        num_heads: 4,
        num_kv_heads: if family == Family::Llama { 2 } else { 4 },
        max_positions: 16,
        norm_eps: 1e-5,
        rope_theta: 10_000.0,
        tie_word_embeddings: true,
        attention_bias: false,
        fused_projections: false,
        labels: vec!["a".into(), "b".into(), "c".into()],
    }
}

fn logits(model: &Transformer, ids: &[i64]) -> Vec<f32> {
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), model.device());
    model.forward(input, &mut model.cache()).into_data().try_to_vec().unwrap()
}

#[test]
fn causal_heads_ignore_the_future_and_masked_heads_see_it() {
    for family in [Family::Gpt2, Family::Llama] {
        let (a, b) = ([1, 2, 3, 4, 5], [1, 2, 3, 4, 9]);
        let causal = Transformer::init(config(family, Head::CausalLm), 3, &Device::flex()).unwrap();
        let (la, lb) = (logits(&causal, &a), logits(&causal, &b));
        // Changing the last token leaves the first four positions' logits alone...
        assert_eq!(la[..4 * 40], lb[..4 * 40], "{family:?}");
        let masked = Transformer::init(config(family, Head::MaskedLm), 3, &Device::flex()).unwrap();
        let (ma, mb) = (logits(&masked, &a), logits(&masked, &b));
        // ...but a masked LM attends in both directions.
        assert_ne!(ma[..40], mb[..40], "{family:?}");
    }
}

#[test]
fn classification_reads_the_last_real_token() {
    let model = Transformer::init(config(Family::Llama, Head::Classification), 5, &Device::flex()).unwrap();
    let device = model.device().clone();
    let input = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 2, 3, 0, 0, 1, 2, 3, 4, 5], [2, 5]), &device);
    let hidden = model.hidden(input, &Default::default(), &mut model.cache());
    let last = Tensor::<1, Int>::from_data(TensorData::new(vec![2i64, 4], [2]), &device);
    let both: Vec<f32> = model.class_logits(hidden, last).into_data().try_to_vec().unwrap();
    assert_eq!(both.len(), 2 * 3);
    // Row 0 read at position 2 equals the same three tokens alone (right padding is invisible).
    let single = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 2, 3], [1, 3]), &device);
    let hidden = model.hidden(single, &Default::default(), &mut model.cache());
    let alone: Vec<f32> = model
        .class_logits(hidden, Tensor::from_data(TensorData::new(vec![2i64], [1]), &device))
        .into_data()
        .try_to_vec()
        .unwrap();
    for (x, y) in both[..3].iter().zip(&alone) {
        assert!((x - y).abs() < 1e-5, "{both:?} vs {alone:?}");
    }
}
