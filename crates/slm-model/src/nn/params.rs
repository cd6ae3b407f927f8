//! The one walk over a model: its modules in checkpoint order ([`ModuleMut`]), and their parameters with
//! HF names ([`ParamMut`]).

use burn::prelude::*;

use super::{Embedding, Linear, Norm};

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

/// One module of a model, as the walk over it yields them (in the order of the HF checkpoint).
pub enum ModuleMut<'a> {
    /// A token or position embedding table.
    Embedding(&'a mut Embedding),
    /// A LayerNorm or RMSNorm.
    Norm(&'a mut Norm),
    /// A linear layer inside a block: LoRA adapters may attach to it.
    Linear(&'a mut Linear),
    /// An output head (the LM head or the classifier): a linear map adapters never target.
    Head(&'a mut Linear),
}

impl<'a> ModuleMut<'a> {
    /// Pushes the module's parameters onto `out` (a linear layer's adapter is not among them).
    pub fn params(self, out: &mut Vec<ParamMut<'a>>) {
        match self {
            ModuleMut::Embedding(e) => out.push(ParamMut {
                name: format!("{}.weight", e.name),
                tensor: TensorMut::Matrix(&mut e.weight),
                hf_transposed: false,
                decay: true,
            }),
            ModuleMut::Norm(n) => n.params(out),
            ModuleMut::Linear(l) | ModuleMut::Head(l) => l.params(out),
        }
    }
}
