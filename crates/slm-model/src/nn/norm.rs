//! LayerNorm (GPT-2) and RMSNorm (Llama).

use burn::prelude::*;

use super::{ParamMut, TensorMut};

/// LayerNorm (with bias, GPT-2) or RMSNorm (gain only, Llama).
#[derive(Debug, Clone)]
pub struct Norm {
    /// HF module name.
    pub name: String,
    /// Gain `[d]`.
    pub weight: Tensor<1>,
    /// Shift `[d]`: present for LayerNorm, absent for RMSNorm.
    pub bias: Option<Tensor<1>>,
    /// Added to the variance.
    pub eps: f64,
}

impl Norm {
    /// Normalises the last dimension.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        slm_kernels::norm(x, self.weight.clone(), self.bias.clone(), self.eps)
    }

    /// Pushes the parameters onto `out`.
    pub fn params<'a>(&'a mut self, out: &mut Vec<ParamMut<'a>>) {
        let name = format!("{}.weight", self.name);
        out.push(ParamMut { name, tensor: TensorMut::Vector(&mut self.weight), hf_transposed: false, decay: false });
        if let Some(b) = &mut self.bias {
            let name = format!("{}.bias", self.name);
            out.push(ParamMut { name, tensor: TensorMut::Vector(b), hf_transposed: false, decay: false });
        }
    }
}
