//! LoRA adapters on a model's linear layers: attaching fresh ones, choosing what trains, dropout, merging.

use burn::prelude::*;

use super::Transformer;
use crate::error::{ModelError, Result};
use crate::nn::{Lora, LoraConfig, ParamMut};

impl Transformer {
    /// Attaches fresh adapters to the linear layers `cfg` selects, as PEFT initialises them: A uniform in
    /// ±1/sqrt(in) (kaiming-uniform with a = sqrt(5)) from a generator seeded by `seed`, B zero (so the model
    /// starts unchanged). Returns the names of the adapted modules.
    ///
    /// # Errors
    /// The targets select no module (the message lists the model's module kinds).
    pub fn attach_lora(&mut self, cfg: &LoraConfig, seed: u64) -> Result<Vec<String>> {
        use rand::{RngExt, SeedableRng};
        let device = self.device().clone();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (mut adapted, mut kinds) = (Vec::new(), std::collections::BTreeSet::new());
        for l in self.linears_mut() {
            kinds.insert(l.name.rsplit('.').next().unwrap_or(&l.name).to_owned());
            if !cfg.selects(&l.name) {
                continue;
            }
            let (d_in, d_out, r) = (l.d_in(), l.d_out(), cfg.rank);
            let bound = 1.0 / (d_in as f64).sqrt();
            let a: Vec<f32> = (0..d_in * r).map(|_| rng.random_range(-bound..bound) as f32).collect();
            l.lora = Some(Lora {
                a: Tensor::from_data(TensorData::new(a, [d_in, r]), &device),
                b: Tensor::zeros([r, d_out], &device),
                scale: cfg.scale(),
                dropout: cfg.dropout,
                training: true,
                seed: 0,
            });
            adapted.push(l.name.clone());
        }
        if adapted.is_empty() {
            let kinds: Vec<String> = kinds.into_iter().collect();
            return Err(ModelError::format(
                "lora.targets",
                format!(
                    "{:?} selects none of the model's linear modules; they are {} (or use \"all-linear\")",
                    cfg.targets,
                    kinds.join(", ")
                ),
            ));
        }
        self.lora = Some(cfg.clone());
        Ok(adapted)
    }

    /// The parameters training updates: the adapters' matrices when adapters are attached (the base stays
    /// frozen: no gradient, no optimizer state), otherwise every parameter.
    pub fn trainable(&mut self) -> Vec<ParamMut<'_>> {
        if self.lora.is_none() {
            return self.params();
        }
        let mut out = Vec::new();
        for l in self.linears_mut() {
            l.lora_params(&mut out);
        }
        out
    }

    /// Turns adapter dropout on (training) or off.
    pub fn set_training(&mut self, on: bool) {
        for l in self.linears_mut() {
            if let Some(lora) = &mut l.lora {
                lora.training = on;
            }
        }
    }

    /// Seeds the dropout masks of the next forward pass: module i draws from `seed` mixed with i.
    pub fn seed_dropout(&mut self, seed: u64) {
        for (i, l) in self.linears_mut().into_iter().enumerate() {
            if let Some(lora) = &mut l.lora {
                lora.seed = seed ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
            }
        }
    }

    /// Folds every adapter into its base weight (`W + scale·A·B`) and detaches it: the same function, one
    /// matrix product per layer.
    pub fn merge_lora(&mut self) {
        for l in self.linears_mut() {
            if let Some(lora) = l.lora.take() {
                l.weight = l.weight.clone().add(lora.merged());
            }
        }
        self.lora = None;
    }

    /// Names of the modules that carry adapters.
    pub fn adapted_modules(&mut self) -> Vec<String> {
        self.linears_mut().into_iter().filter(|l| l.lora.is_some()).map(|l| l.name.clone()).collect()
    }
}
