//! Batches: examples padded on the right into tensors, with the positions that count in the loss.

use burn::prelude::*;

use super::Example;

/// A batch as tensors.
pub struct Batch {
    /// `[b, n]` inputs.
    pub inputs: Tensor<2, Int>,
    /// The counted positions as indices into the flattened `[b * n]` positions; `None` when every
    /// position counts (packed pretraining), so the loss needs no gather.
    pub counted: Option<Tensor<1, Int>>,
    /// `[n_targets]` the target of every counted position, in order.
    pub targets: Tensor<1, Int>,
    /// Targets that count.
    pub n_targets: usize,
    /// Restarted positions and the block-diagonal mask, when some row packs several documents.
    pub ctx: slm_model::TokenLayout,
    /// `[b]` classes (classification).
    pub labels: Option<Tensor<1, Int>>,
    /// `[b]` index of each row's last real token.
    pub last: Tensor<1, Int>,
}

impl Batch {
    /// The hidden states `[n_targets, hidden]` of the counted positions of `hidden` `[b, n, hidden]`: the
    /// LM head and softmax run only where a target counts (prompts, padding and unmasked MLM positions
    /// cost nothing there).
    pub fn counted_rows(&self, hidden: Tensor<3>) -> Tensor<2> {
        let [b, n, d] = hidden.dims();
        let rows = hidden.reshape([b * n, d]);
        match &self.counted {
            Some(index) => rows.select(0, index.clone()),
            None => rows,
        }
    }
}

/// Pads `examples` on the right to the longest and moves them to `device`. With `mask_padding` (models
/// that attend in both directions) padded keys are masked; causal models never see right padding.
pub fn collate(examples: &[Example], pad: u32, mask_padding: bool, device: &Device) -> Batch {
    let b = examples.len();
    let n = examples.iter().map(|e| e.tokens.len() - 1).max().unwrap_or(1).max(1);
    let mut inputs = vec![i64::from(pad); b * n];
    let mut targets = Vec::new();
    let mut counted = Vec::new();
    let mut last = Vec::with_capacity(b);
    for (r, e) in examples.iter().enumerate() {
        let len = e.tokens.len() - 1;
        for i in 0..len {
            inputs[r * n + i] = i64::from(e.tokens[i]);
            if e.weight[i] {
                targets.push(i64::from(e.targets.as_ref().map_or(e.tokens[i + 1], |t| t[i])));
                counted.push((r * n + i) as i64);
            }
        }
        last.push(len.saturating_sub(1) as i64);
    }
    let n_targets = targets.len();
    let padded = examples.iter().any(|e| e.tokens.len() - 1 < n);
    let ctx = if examples.iter().any(|e| e.docs.is_some()) || (mask_padding && padded) {
        packed_context(examples, n, device)
    } else {
        Default::default()
    };
    let labels = examples
        .iter()
        .map(|e| e.label.map(i64::from))
        .collect::<Option<Vec<i64>>>()
        .map(|l| Tensor::from_data(TensorData::new(l, [b]), device));
    Batch {
        inputs: Tensor::from_data(TensorData::new(inputs, [b, n]), device),
        counted: (n_targets < b * n).then(|| Tensor::from_data(TensorData::new(counted, [n_targets]), device)),
        targets: Tensor::from_data(TensorData::new(targets, [n_targets]), device),
        n_targets,
        ctx,
        labels,
        last: Tensor::from_data(TensorData::new(last, [b]), device),
    }
}

/// Positions that restart at each document and a mask that keeps attention inside a document; right
/// padding counts as a document of its own, so real tokens never attend to it.
fn packed_context(examples: &[Example], n: usize, device: &Device) -> slm_model::TokenLayout {
    let b = examples.len();
    let mut positions = vec![0i64; b * n];
    let mut mask = vec![false; b * n * n];
    for (r, e) in examples.iter().enumerate() {
        let mut docs: Vec<u32> = e.docs.clone().unwrap_or_else(|| vec![0; e.tokens.len() - 1]);
        docs.resize(n, u32::MAX);
        let mut pos = 0;
        for i in 0..n {
            if i > 0 && docs[i] != docs[i - 1] {
                pos = 0;
            }
            positions[r * n + i] = pos;
            pos += 1;
            for j in 0..n {
                mask[(r * n + i) * n + j] = docs[i] != docs[j];
            }
        }
    }
    slm_model::TokenLayout {
        positions: Some(Tensor::from_data(TensorData::new(positions, [b, n]), device)),
        mask: Some(Tensor::from_data(TensorData::new(mask, [b, 1, n, n]), device)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_blocks_restart_positions_and_mask_other_documents() {
        let e = Example {
            tokens: vec![1, 2, 3, 4, 5],
            weight: vec![true; 4],
            docs: Some(vec![0, 0, 1, 1]),
            label: None,
            targets: None,
        };
        let ctx = packed_context(&[e], 4, &Device::flex());
        let pos: Vec<i64> = ctx.positions.unwrap().into_data().convert::<i64>().try_to_vec().unwrap();
        assert_eq!(pos, vec![0, 1, 0, 1]);
        let mask: Vec<bool> = ctx.mask.unwrap().into_data().try_to_vec().unwrap();
        assert_eq!(mask[2 * 4..3 * 4], [true, true, false, false]);
    }
}
