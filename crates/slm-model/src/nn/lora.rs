//! LoRA (Hu et al., 2021): a frozen linear map `x·W` gains a trainable low-rank update
//! `scale · dropout(x)·A·B` with `A [in, r]`, `B [r, out]` and `scale = alpha / r`: the adapter of one
//! layer and the configuration of a model's adapters. Attaching them to a model is in
//! `transformer/adapters.rs`; their files (PEFT's layout) in `io/peft.rs`.

use std::path::PathBuf;

use burn::prelude::*;
use burn::tensor::module::linear;
use serde::{Deserialize, Serialize};

/// Which linear layers get adapters, and their shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank r of the update.
    #[serde(default = "default_rank")]
    pub rank: usize,
    /// The update is scaled by alpha / r.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Dropout on the adapter's input during training.
    #[serde(default)]
    pub dropout: f64,
    /// Module names by PEFT's rule (`q_proj` matches `model.layers.0.self_attn.q_proj`), or
    /// `all-linear` (every linear layer of the blocks; never the LM head).
    #[serde(default = "default_targets")]
    pub targets: Vec<String>,
    /// Start from this adapter directory instead of fresh adapters.
    pub from: Option<PathBuf>,
}

fn default_rank() -> usize {
    8
}
fn default_alpha() -> f64 {
    16.0
}
fn default_targets() -> Vec<String> {
    vec!["q_proj".into(), "v_proj".into()]
}

impl LoraConfig {
    /// Checks the values; the error names the key.
    ///
    /// # Errors
    /// A zero rank, a non-positive alpha, a dropout outside [0, 1), no targets.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.rank == 0 {
            return Err("lora.rank must be > 0, got 0".into());
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return Err(format!("lora.alpha must be > 0, got {}", self.alpha));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("lora.dropout must be in [0, 1), got {}", self.dropout));
        }
        if self.targets.is_empty() {
            return Err("lora.targets must name at least one module (or \"all-linear\")".into());
        }
        Ok(())
    }

    /// alpha / r.
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }

    /// Whether PEFT's rule selects the linear module `name`: it equals a target or ends in `.target`;
    /// `all-linear` selects every module it is asked about (callers never ask about the LM head).
    pub fn selects(&self, name: &str) -> bool {
        self.targets.iter().any(|t| t == "all-linear" || name == t || name.ends_with(&format!(".{t}")))
    }
}

/// The adapter of one linear layer.
#[derive(Debug, Clone)]
pub struct Lora {
    /// `[in, r]`.
    pub a: Tensor<2>,
    /// `[r, out]`.
    pub b: Tensor<2>,
    /// alpha / r.
    pub scale: f64,
    /// Dropout probability on the input.
    pub dropout: f64,
    /// Whether dropout applies (training); evaluation and generation turn it off.
    pub training: bool,
    /// Seed of the dropout mask of the next forward pass (the trainer sets it per micro-batch, so that a
    /// run and its resume draw the same masks whatever else runs in the process).
    pub seed: u64,
}

impl Lora {
    /// `scale · dropout(x)·A·B` over the last dimension of `x`.
    pub fn delta<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let x = if self.training && self.dropout > 0.0 {
            let shape = x.shape();
            let mask = dropout_mask(self.seed, shape.num_elements(), 1.0 - self.dropout);
            let mask = Tensor::from_data(TensorData::new(mask, shape), &x.device());
            x.mul(mask)
        } else {
            x
        };
        linear(linear(x, self.a.clone(), None), self.b.clone(), None).mul_scalar(self.scale)
    }

    /// The update as one matrix `[in, out]`, to fold into the base weight.
    pub fn merged(&self) -> Tensor<2> {
        self.a.clone().matmul(self.b.clone()).mul_scalar(self.scale)
    }
}

/// An inverted-dropout mask of `n` values: `1 / keep` with probability `keep`, else 0, from a counter-based
/// hash of (seed, index) (SplitMix64), so any slice of it is reproducible without generator state.
fn dropout_mask(seed: u64, n: usize, keep: f64) -> Vec<f32> {
    let threshold = (keep * u64::MAX as f64) as u64;
    let kept = (1.0 / keep) as f32;
    (0..n as u64)
        .map(|i| {
            let mut z = seed.wrapping_add(i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            if z ^ (z >> 31) < threshold { kept } else { 0.0 }
        })
        .collect()
}

/// PEFT's tensor name of adapter matrix `which` (`A` or `B`) of `module`.
pub fn peft_name(module: &str, which: char) -> String {
    format!("base_model.model.{module}.lora_{which}.weight")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(targets: &[&str]) -> LoraConfig {
        LoraConfig {
            rank: 4,
            alpha: 8.0,
            dropout: 0.0,
            targets: targets.iter().map(|t| t.to_string()).collect(),
            from: None,
        }
    }

    #[test]
    fn targets_follow_peft_suffix_rule() {
        let c = cfg(&["q_proj", "v_proj"]);
        assert!(c.selects("model.layers.0.self_attn.q_proj"));
        assert!(!c.selects("model.layers.0.self_attn.k_proj"));
        // A suffix of a name part is not a match: `proj` does not select `q_proj`.
        assert!(!cfg(&["proj"]).selects("model.layers.0.self_attn.q_proj"));
        assert!(cfg(&["self_attn.q_proj"]).selects("model.layers.0.self_attn.q_proj"));
        assert!(cfg(&["all-linear"]).selects("transformer.h.1.mlp.c_fc"));
        assert_eq!(c.scale(), 2.0);
    }

    #[test]
    fn dropout_masks_keep_the_expected_share_and_repeat() {
        let m = dropout_mask(7, 100_000, 0.9);
        let kept = m.iter().filter(|&&v| v > 0.0).count() as f64 / m.len() as f64;
        assert!((kept - 0.9).abs() < 0.005, "{kept}");
        assert!(m.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.9).abs() < 1e-6));
        assert_eq!(m, dropout_mask(7, 100_000, 0.9));
        assert_ne!(m, dropout_mask(8, 100_000, 0.9));
    }

    #[test]
    fn bad_values_name_the_key() {
        let mut c = cfg(&["q_proj"]);
        c.dropout = 1.0;
        assert!(c.check().unwrap_err().starts_with("lora.dropout"));
        c.dropout = 0.0;
        c.rank = 0;
        assert!(c.check().unwrap_err().starts_with("lora.rank"));
    }
}
