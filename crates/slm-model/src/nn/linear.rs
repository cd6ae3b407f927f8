//! A linear map `x·W + b`, with an optional LoRA adapter beside it.

use burn::prelude::*;

use super::{Lora, ParamMut, TensorMut};

/// Whether a linear layer has a bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bias {
    /// `x·W + b`.
    Yes,
    /// `x·W`.
    No,
}

impl From<bool> for Bias {
    fn from(yes: bool) -> Bias {
        if yes { Bias::Yes } else { Bias::No }
    }
}

/// A linear map `x·W + b`, `W` stored `[in, out]`.
#[derive(Debug, Clone)]
pub struct Linear {
    /// HF module name without the `.weight`/`.bias` suffix.
    pub name: String,
    /// `[in, out]`.
    pub weight: Tensor<2>,
    /// `[out]`.
    pub bias: Option<Tensor<1>>,
    /// HF stores the weight `[out, in]` (`nn.Linear`) rather than `[in, out]` (GPT-2's `Conv1D`).
    pub hf_transposed: bool,
    /// A LoRA adapter added to the map (the base weight is then frozen).
    pub lora: Option<Lora>,
}

impl Linear {
    /// Applies the map (and its adapter) to the last dimension.
    ///
    /// # Shapes
    /// `[.., in]` → `[.., out]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match &self.lora {
            None => slm_kernels::linear(x, self.weight.clone(), self.bias.clone()),
            Some(lora) => slm_kernels::linear(x.clone(), self.weight.clone(), self.bias.clone()).add(lora.delta(x)),
        }
    }

    /// Input width.
    pub fn d_in(&self) -> usize {
        self.weight.dims()[0]
    }

    /// Output width.
    pub fn d_out(&self) -> usize {
        self.weight.dims()[1]
    }

    /// Pushes the parameters onto `out`.
    pub fn params<'a>(&'a mut self, out: &mut Vec<ParamMut<'a>>) {
        out.push(ParamMut {
            name: format!("{}.weight", self.name),
            tensor: TensorMut::Matrix(&mut self.weight),
            hf_transposed: self.hf_transposed,
            decay: true,
        });
        if let Some(b) = &mut self.bias {
            out.push(ParamMut {
                name: format!("{}.bias", self.name),
                tensor: TensorMut::Vector(b),
                hf_transposed: false,
                decay: false,
            });
        }
    }

    /// Pushes the adapter's matrices (PEFT names, stored `[r, in]` and `[out, r]` there) onto `out`.
    pub fn lora_params<'a>(&'a mut self, out: &mut Vec<ParamMut<'a>>) {
        if let Some(lora) = &mut self.lora {
            for (which, tensor) in [('A', &mut lora.a), ('B', &mut lora.b)] {
                let name = super::lora::peft_name(&self.name, which);
                out.push(ParamMut { name, tensor: TensorMut::Matrix(tensor), hf_transposed: true, decay: true });
            }
        }
    }
}
