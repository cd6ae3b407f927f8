//! Building blocks shared by both families: a linear map, LayerNorm/RMSNorm, and the named-parameter view
//! that optimizers and checkpoints walk. Every parameter carries its Hugging Face tensor name, so loading,
//! saving, optimizer state and LoRA targets all speak the ecosystem's names.

use crate::fused::linear;
use burn::prelude::*;

use crate::lora::Lora;

/// A mutable reference to one parameter tensor, whichever its rank.
pub enum TensorMut<'a> {
    /// Norm gains and biases.
    Vector(&'a mut Tensor<1>),
    /// Weight matrices and embeddings.
    Matrix(&'a mut Tensor<2>),
}

/// One named parameter: its HF name and the tensor in slm's layout.
pub struct ParamMut<'a> {
    /// Full HF name, e.g. `model.layers.0.self_attn.q_proj.weight`.
    pub name: String,
    /// The tensor. Matrices of linear layers are `[in, out]` in slm even where HF stores `[out, in]`.
    pub tensor: TensorMut<'a>,
    /// Whether the HF file stores this matrix transposed relative to slm (`nn.Linear` does; GPT-2's
    /// `Conv1D` and embeddings do not).
    pub hf_transposed: bool,
    /// Weight decay applies (matrices yes; norm gains and biases no).
    pub decay: bool,
}

impl ParamMut<'_> {
    /// Number of values.
    pub fn numel(&self) -> usize {
        match &self.tensor {
            TensorMut::Vector(t) => t.dims()[0],
            TensorMut::Matrix(t) => t.dims().iter().product(),
        }
    }
}

/// A linear map `x @ W + b`, `W` stored `[in, out]`.
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
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match &self.lora {
            None => linear(x, self.weight.clone(), self.bias.clone()),
            Some(lora) => linear(x.clone(), self.weight.clone(), self.bias.clone()).add(lora.delta(x)),
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
                let name = crate::lora::peft_name(&self.name, which);
                out.push(ParamMut { name, tensor: TensorMut::Matrix(tensor), hf_transposed: true, decay: true });
            }
        }
    }
}

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
        crate::fused::norm(x, self.weight.clone(), self.bias.clone(), self.eps)
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

/// A matrix parameter that is not a linear layer (embeddings, the LM head).
pub fn matrix_param<'a>(name: &str, tensor: &'a mut Tensor<2>, hf_transposed: bool) -> ParamMut<'a> {
    ParamMut { name: name.to_owned(), tensor: TensorMut::Matrix(tensor), hf_transposed, decay: true }
}
