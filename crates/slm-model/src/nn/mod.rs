//! The building blocks a Transformer is made of — a linear map (with an optional LoRA adapter), a
//! normalisation layer, an embedding table — and the one walk over a model's parameters that loading,
//! saving, the optimizer and LoRA all share ([`ModuleMut`], [`ParamMut`]). Every parameter carries its
//! Hugging Face tensor name, so checkpoints, optimizer state and LoRA targets speak the ecosystem's names.

mod embedding;
mod init;
mod linear;
pub mod lora;
mod norm;
mod params;

pub use embedding::Embedding;
pub use init::{Init, normal};
pub use linear::{Bias, Linear};
pub use lora::{Lora, LoraConfig};
pub use norm::Norm;
pub use params::{ModuleMut, ParamMut, TensorMut};
