//! Attention weights of one text, per layer and head, and attention rollout (Abnar & Zuidema, 2020): the
//! product over layers of the head-averaged weights mixed half and half with the identity (the residual
//! stream), rows renormalised, which estimates how much each output position draws on each input token.

use burn::prelude::*;
use serde_json::{Value, json};
use slm_model::generate::Generator;

use crate::error::{ExplainError, Result};
use crate::heatmap::{self, Panel};

/// The attention of a model over one text.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionMaps {
    /// The token ids.
    pub ids: Vec<u32>,
    /// Each token's text.
    pub tokens: Vec<String>,
    /// Blocks of the model.
    pub layers: usize,
    /// Query heads per block.
    pub heads: usize,
    /// `[layer][head][query][key]`, flattened; each query row sums to 1.
    pub weights: Vec<f32>,
    /// `[query][key]`, flattened: attention rollout over all layers.
    pub rollout: Vec<f32>,
}

impl AttentionMaps {
    /// Tokens of the text.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the text has no tokens (never true for a computed map).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The `[query][key]` matrix of one head, flattened.
    pub fn head(&self, layer: usize, head: usize) -> &[f32] {
        let t2 = self.len() * self.len();
        let at = (layer * self.heads + head) * t2;
        &self.weights[at..at + t2]
    }

    /// As JSON: tokens, ids, `attention[layer][head][query][key]` and `rollout[query][key]`.
    pub fn to_json(&self) -> Value {
        let t = self.len();
        let matrix = |m: &[f32]| Value::Array(m.chunks_exact(t).map(|r| json!(r)).collect());
        let attention: Vec<Value> = (0..self.layers)
            .map(|l| Value::Array((0..self.heads).map(|h| matrix(self.head(l, h))).collect()))
            .collect();
        json!({"tokens": self.tokens, "ids": self.ids, "layers": self.layers, "heads": self.heads,
               "attention": attention, "rollout": matrix(&self.rollout)})
    }
}

/// The attention of `generator`'s model over `text` (tokenized without special tokens).
///
/// # Errors
/// The text tokenizes to nothing or is longer than the model's context.
pub fn attention(generator: &Generator, text: &str) -> Result<AttentionMaps> {
    let ids = crate::subject::encode_input(generator, text)?;
    let t = ids.len();
    let device = generator.model.device().clone();
    let data: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
    let (_, per_layer) = generator.model.attention_weights(Tensor::from_data(TensorData::new(data, [1, t]), &device));
    let layers = per_layer.len();
    let heads = per_layer.first().map_or(0, |w| w.dims()[1]);
    let mut weights = Vec::with_capacity(layers * heads * t * t);
    for w in per_layer {
        weights.extend(w.into_data().try_to_vec::<f32>().expect("f32 weights"));
    }
    let tokens = ids.iter().map(|&id| crate::subject::token_text(generator, id)).collect();
    let mut maps = AttentionMaps { ids, tokens, layers, heads, weights, rollout: Vec::new() };
    maps.rollout = rollout(&maps);
    Ok(maps)
}

/// Writes `maps` into the directory `dir`: `attention.json`, `attention.html` (titled `title`), one PNG
/// grid of heads per layer (`layer_00.png`, ...) and `rollout.png`.
///
/// # Errors
/// A file cannot be written.
pub fn write(maps: &AttentionMaps, title: &str, dir: &std::path::Path) -> Result<()> {
    let put = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| ExplainError::Output { path, problem: e.to_string() })
    };
    let json = maps.to_json();
    put("attention.json", serde_json::to_string(&json).expect("JSON serializes") + "\n")?;
    put("attention.html", crate::html::attention_page(title, &json))?;
    let t = maps.len();
    for layer in 0..maps.layers {
        let panels: Vec<Panel<'_>> = (0..maps.heads)
            .map(|h| Panel { title: format!("head {h}"), values: maps.head(layer, h), rows: t, cols: t })
            .collect();
        let png = dir.join(format!("layer_{layer:02}.png"));
        heatmap::draw(&format!("{title}: layer {layer}"), &panels, &maps.tokens, &maps.tokens, &png)?;
    }
    let panel = Panel { title: "rollout".into(), values: &maps.rollout, rows: t, cols: t };
    heatmap::draw(
        &format!("{title}: attention rollout"),
        &[panel],
        &maps.tokens,
        &maps.tokens,
        &dir.join("rollout.png"),
    )
}

/// Attention rollout: `R = Â_L ⋯ Â_1` with `Â = (mean over heads + I) / 2`, rows renormalised.
pub fn rollout(maps: &AttentionMaps) -> Vec<f32> {
    let t = maps.len();
    let mut result: Vec<f64> = (0..t * t).map(|i| f64::from(u8::from(i / t == i % t))).collect();
    for layer in 0..maps.layers {
        let mut mixed = vec![0f64; t * t];
        for head in 0..maps.heads {
            for (m, w) in mixed.iter_mut().zip(maps.head(layer, head)) {
                *m += f64::from(*w) / maps.heads as f64;
            }
        }
        for q in 0..t {
            let row = &mut mixed[q * t..(q + 1) * t];
            row[q] += 1.0;
            let sum: f64 = row.iter().sum();
            row.iter_mut().for_each(|x| *x /= sum);
        }
        // result = mixed · result
        let mut next = vec![0f64; t * t];
        for q in 0..t {
            for k in 0..t {
                let a = mixed[q * t + k];
                if a != 0.0 {
                    for j in 0..t {
                        next[q * t + j] += a * result[k * t + j];
                    }
                }
            }
        }
        result = next;
    }
    result.into_iter().map(|x| x as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps(weights: Vec<f32>, layers: usize, heads: usize, t: usize) -> AttentionMaps {
        AttentionMaps {
            ids: (0..t as u32).collect(),
            tokens: vec![String::new(); t],
            layers,
            heads,
            weights,
            rollout: Vec::new(),
        }
    }

    #[test]
    fn rollout_of_one_layer_is_half_attention_half_identity() {
        // One layer, two heads over two tokens: the mean is [[1, 0], [0.5, 0.5]].
        let m = maps(vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0], 1, 2, 2);
        assert_eq!(rollout(&m), vec![1.0, 0.0, 0.25, 0.75]);
    }

    #[test]
    fn rollout_multiplies_the_layers_in_order() {
        // Layer 1 sends token 1 entirely to token 0; layer 2 is the identity attention.
        let m = maps(vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0], 2, 1, 2);
        // Â1 = [[1, 0], [0.5, 0.5]], Â2 = I: R = Â2 · Â1 = Â1.
        assert_eq!(rollout(&m), vec![1.0, 0.0, 0.5, 0.5]);
        let r = rollout(&maps(vec![0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0], 2, 1, 2));
        // Â1 = [[0.5, 0.5], [0.5, 0.5]], Â2 = [[1, 0], [0.5, 0.5]]: Â2 · Â1 = Â1.
        assert_eq!(r, vec![0.5, 0.5, 0.5, 0.5]);
    }
}
