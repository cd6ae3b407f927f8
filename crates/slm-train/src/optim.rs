//! AdamW as in PyTorch (`torch.optim.AdamW`): bias-corrected moments, decoupled weight decay applied
//! only to matrices (never to norm gains or biases), and clipping by the global gradient norm over all
//! parameters (`clip_grad_norm_`). State is kept per parameter name so it can be saved and resumed.

use std::collections::BTreeMap;

use burn::prelude::*;
use slm_kernels::{AdamWUpdate, adamw};
use slm_model::nn::{ParamMut, TensorMut};

use crate::recipe::OptimizerSection;

/// First and second moments of one parameter, flattened.
#[derive(Clone)]
pub struct Moments {
    /// Running mean of gradients.
    pub m: Tensor<1>,
    /// Running mean of squared gradients.
    pub v: Tensor<1>,
}

/// AdamW with its state.
pub struct AdamW {
    /// Hyper-parameters.
    pub cfg: OptimizerSection,
    /// Updates done so far (the bias correction's t).
    pub steps: u64,
    /// Moments by parameter name.
    pub state: BTreeMap<String, Moments>,
}

/// Flattened gradients in the order of the model's parameters.
pub type Grads = Vec<Tensor<1>>;

/// Global L2 norm of `grads`.
pub fn global_norm(grads: &Grads) -> f64 {
    let sum = grads.iter().map(|g| g.clone().powi_scalar(2).sum()).reduce(|a, b| a.add(b));
    sum.map_or(0.0, |s| f64::from(s.into_scalar::<f32>()).sqrt())
}

fn flat(t: &TensorMut<'_>) -> Tensor<1> {
    match t {
        TensorMut::Vector(t) => (*t).clone(),
        TensorMut::Matrix(t) => {
            let n: usize = t.dims().iter().product();
            (*t).clone().reshape([n])
        }
    }
}

impl AdamW {
    /// A fresh optimizer.
    pub fn new(cfg: OptimizerSection) -> AdamW {
        AdamW { cfg, steps: 0, state: BTreeMap::new() }
    }

    /// One update of `params` (leaves of an autodiff graph) with `grads` at learning rate `lr`, after
    /// scaling the gradients by `scale` (global-norm clipping). The new values are fresh leaves that
    /// require gradients.
    pub fn step(&mut self, params: Vec<ParamMut<'_>>, grads: Grads, lr: f64, scale: f64) {
        self.steps += 1;
        let c = &self.cfg;
        let (b1, b2) = (c.beta1, c.beta2);
        let bias1 = 1.0 - b1.powi(self.steps as i32);
        let bias2 = 1.0 - b2.powi(self.steps as i32);
        for (p, g) in params.into_iter().zip(grads) {
            let value = flat(&p.tensor).without_autodiff();
            let moments =
                self.state.remove(&p.name).unwrap_or_else(|| Moments { m: g.zeros_like(), v: g.zeros_like() });
            let decay = if p.decay && c.weight_decay > 0.0 { 1.0 - lr * c.weight_decay } else { 1.0 };
            let update = AdamWUpdate { lr, beta1: b1, beta2: b2, eps: c.eps, decay, bias1, bias2, scale };
            let [new, m, v] = adamw(value, g, moments.m, moments.v, &update);
            self.state.insert(p.name, Moments { m, v });
            match p.tensor {
                TensorMut::Vector(t) => *t = new.autodiff().require_grad(),
                TensorMut::Matrix(t) => {
                    let dims = t.dims();
                    *t = new.reshape(dims).autodiff().require_grad();
                }
            }
        }
    }
}

/// Flattened gradients of `params` from `grads` (zeros for a parameter the loss does not reach).
pub fn gradients(params: &[ParamMut<'_>], grads: &burn::tensor::Gradients) -> Grads {
    params
        .iter()
        .map(|p| match &p.tensor {
            TensorMut::Vector(t) => t.grad(grads).unwrap_or_else(|| (*t).clone().without_autodiff().zeros_like()),
            TensorMut::Matrix(t) => {
                let n: usize = t.dims().iter().product();
                t.grad(grads).unwrap_or_else(|| (*t).clone().without_autodiff().zeros_like()).reshape([n])
            }
        })
        .collect()
}

/// Marks every parameter as a leaf that requires gradients, on an autodiff device.
pub fn track(params: Vec<ParamMut<'_>>) {
    for p in params {
        match p.tensor {
            TensorMut::Vector(t) => *t = t.clone().without_autodiff().autodiff().require_grad(),
            TensorMut::Matrix(t) => *t = t.clone().without_autodiff().autodiff().require_grad(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One AdamW step against the update written out by hand (PyTorch's algorithm).
    #[test]
    fn matches_the_closed_form_first_step() {
        let device = Device::flex().autodiff();
        let cfg: OptimizerSection = toml::from_str("lr = 0.1\nweight_decay = 0.5").unwrap();
        let mut w = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, -2.0], [1, 2]), &device).require_grad();
        let mut b = Tensor::<1>::from_data(TensorData::new(vec![3.0f32], [1]), &device).require_grad();
        let params = vec![
            ParamMut { name: "w".into(), tensor: TensorMut::Matrix(&mut w), hf_transposed: false, decay: true },
            ParamMut { name: "b".into(), tensor: TensorMut::Vector(&mut b), hf_transposed: false, decay: false },
        ];
        let grads = vec![
            Tensor::<1>::from_data(TensorData::new(vec![0.5f32, -0.25], [2]), &Device::flex()),
            Tensor::<1>::from_data(TensorData::new(vec![2.0f32], [1]), &Device::flex()),
        ];
        let mut opt = AdamW::new(cfg);
        opt.step(params, grads, 0.1, 1.0);
        // Step 1: m̂ = g, v̂ = g², so the update is lr * g / (|g| + eps) = ±lr; decay multiplies by 1 - lr*wd.
        let w: Vec<f32> = w.into_data().try_to_vec().unwrap();
        let b: Vec<f32> = b.into_data().try_to_vec().unwrap();
        let close = |a: f32, e: f64| (f64::from(a) - e).abs() < 1e-6;
        assert!(close(w[0], 1.0 * 0.95 - 0.1), "{w:?}");
        assert!(close(w[1], -2.0 * 0.95 + 0.1), "{w:?}");
        assert!(close(b[0], 3.0 - 0.1), "no decay on biases: {b:?}");
    }
}
