//! Where parameter values come from while a model is built: a checkpoint, read by HF name, or fresh
//! initialisation from a seeded generator. [`Source::pp`] extends the name prefix (as candle's
//! `VarBuilder` does), so every HF name is written once, next to the module that loads it, and the
//! family's weight layout (`Conv1D` or `nn.Linear`) is set once for all its linear layers.

use std::cell::RefCell;

use burn::prelude::*;
use rand_chacha::ChaCha8Rng;

use crate::error::Result;
use crate::nn::{Bias, Embedding, Init, Linear, Norm};

/// Named tensors in HF names and layouts, which a model loads from.
pub trait Checkpoint {
    /// Whether a tensor named `name` exists.
    fn contains(&self, name: &str) -> bool;
    /// Shape and f32 values of `name`, or `None` when there is no such tensor.
    ///
    /// # Errors
    /// The tensor cannot be read.
    fn raw(&self, name: &str) -> Result<Option<(Vec<usize>, Vec<f32>)>>;
    /// The error for a problem with this checkpoint.
    fn error(&self, problem: String) -> crate::ModelError;
}

/// A view of the parameter source under one name prefix.
#[derive(Clone)]
pub(crate) struct Source<'a> {
    checkpoint: Option<&'a dyn Checkpoint>,
    /// One generator for the whole model: parameters draw from it in the order they are built.
    rng: &'a RefCell<ChaCha8Rng>,
    device: &'a Device,
    prefix: String,
    /// Whether HF stores this family's block weights `[out, in]` (`nn.Linear`) rather than `[in, out]`.
    linears_transposed: bool,
}

impl<'a> Source<'a> {
    /// The root of a model's names.
    pub(crate) fn new(
        checkpoint: Option<&'a dyn Checkpoint>,
        rng: &'a RefCell<ChaCha8Rng>,
        device: &'a Device,
        linears_transposed: bool,
    ) -> Source<'a> {
        Source { checkpoint, rng, device, prefix: String::new(), linears_transposed }
    }

    /// The same source under `prefix.name`.
    pub(crate) fn pp(&self, name: impl std::fmt::Display) -> Source<'a> {
        let prefix = if self.prefix.is_empty() { name.to_string() } else { format!("{}.{name}", self.prefix) };
        Source { prefix, ..self.clone() }
    }

    /// The full name of `leaf` under this prefix.
    pub(crate) fn name(&self, leaf: &str) -> String {
        if self.prefix.is_empty() { leaf.to_owned() } else { format!("{}.{leaf}", self.prefix) }
    }

    /// Whether the checkpoint has `leaf` (always false when initialising).
    pub(crate) fn contains(&self, leaf: &str) -> bool {
        self.checkpoint.is_some_and(|c| c.contains(&self.name(leaf)))
    }

    /// Whether values come from a checkpoint.
    pub(crate) fn is_checkpoint(&self) -> bool {
        self.checkpoint.is_some()
    }

    pub(crate) fn device(&self) -> &Device {
        self.device
    }

    /// Values in slm's layout for `leaf` of slm shape `shape`; a tensor missing from the checkpoint is an
    /// error unless `may_init`.
    fn take(&self, leaf: &str, shape: &[usize], hf_transposed: bool, init: Init, may_init: bool) -> Result<Vec<f32>> {
        if let Some(c) = self.checkpoint {
            let name = self.name(leaf);
            match c.raw(&name)? {
                Some((file_shape, values)) => {
                    let expected: Vec<usize> =
                        if hf_transposed { shape.iter().rev().copied().collect() } else { shape.to_vec() };
                    if file_shape != expected {
                        return Err(c.error(format!("`{name}` has shape {file_shape:?}, expected {expected:?}")));
                    }
                    return Ok(if hf_transposed { transpose(&values, expected[0], expected[1]) } else { values });
                }
                None if !may_init => return Err(c.error(format!("tensor `{name}` is missing"))),
                None => {}
            }
        }
        Ok(init.values(shape.iter().product(), &mut self.rng.borrow_mut()))
    }

    fn matrix(
        &self,
        leaf: &str,
        shape: [usize; 2],
        hf_transposed: bool,
        init: Init,
        may_init: bool,
    ) -> Result<Tensor<2>> {
        let v = self.take(leaf, &shape, hf_transposed, init, may_init)?;
        Ok(Tensor::from_data(TensorData::new(v, shape), self.device))
    }

    fn vector(&self, leaf: &str, n: usize, init: Init) -> Result<Tensor<1>> {
        let v = self.take(leaf, &[n], false, init, false)?;
        Ok(Tensor::from_data(TensorData::new(v, [n]), self.device))
    }

    /// The linear layer `leaf` of a block, `[d_in, d_out]`, weights N(0, std) when fresh.
    pub(crate) fn linear(&self, leaf: &str, d_in: usize, d_out: usize, bias: Bias, std: f64) -> Result<Linear> {
        let m = self.pp(leaf);
        let transposed = self.linears_transposed;
        Ok(Linear {
            name: m.prefix.clone(),
            weight: m.matrix("weight", [d_in, d_out], transposed, Init::Normal(std), false)?,
            bias: match bias {
                Bias::Yes => Some(m.vector("bias", d_out, Init::Zeros)?),
                Bias::No => None,
            },
            hf_transposed: transposed,
            lora: None,
        })
    }

    /// An output head `leaf` (`nn.Linear` layout in every family, no bias); one missing from the
    /// checkpoint starts fresh when `may_init` (a classifier fine-tuned from a language model).
    pub(crate) fn head(&self, leaf: &str, d_in: usize, d_out: usize, std: f64, may_init: bool) -> Result<Linear> {
        let m = self.pp(leaf);
        Ok(Linear {
            name: m.prefix.clone(),
            weight: m.matrix("weight", [d_in, d_out], true, Init::Normal(std), may_init)?,
            bias: None,
            hf_transposed: true,
            lora: None,
        })
    }

    /// The normalisation layer `leaf` of width `d`: LayerNorm with a bias, RMSNorm without.
    pub(crate) fn norm(&self, leaf: &str, d: usize, bias: Bias, eps: f64) -> Result<Norm> {
        let m = self.pp(leaf);
        Ok(Norm {
            name: m.prefix.clone(),
            weight: m.vector("weight", d, Init::Ones)?,
            bias: match bias {
                Bias::Yes => Some(m.vector("bias", d, Init::Zeros)?),
                Bias::No => None,
            },
            eps,
        })
    }

    /// The embedding table `leaf`, `[rows, d]`.
    pub(crate) fn embedding(&self, leaf: &str, rows: usize, d: usize, std: f64) -> Result<Embedding> {
        let m = self.pp(leaf);
        Ok(Embedding {
            name: m.prefix.clone(),
            weight: m.matrix("weight", [rows, d], false, Init::Normal(std), false)?,
        })
    }
}

/// `values` of a `rows x cols` row-major matrix, transposed.
pub(crate) fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}
