//! A lookup table of vectors, one row per token id (or position).

use burn::prelude::*;

/// An embedding table `[rows, dim]`.
#[derive(Debug, Clone)]
pub struct Embedding {
    /// HF module name without `.weight` (`model.embed_tokens`, `transformer.wpe`).
    pub name: String,
    /// `[rows, dim]`.
    pub weight: Tensor<2>,
}

impl Embedding {
    /// The rows of `ids` `[batch, tokens]`: `[batch, tokens, dim]`.
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let [b, t] = ids.dims();
        let d = self.weight.dims()[1];
        self.weight.clone().select(0, ids.reshape([b * t])).reshape([b, t, d])
    }

    /// Rows `start..start + n` (consecutive positions), `[1, n, dim]`.
    pub fn range(&self, start: usize, n: usize) -> Tensor<3> {
        self.weight.clone().narrow(0, start, n).unsqueeze::<3>()
    }
}
