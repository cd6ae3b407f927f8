//! The training objective of a batch: cross-entropy over the counted target tokens (causal and masked
//! LM), over the labels (classification), or the distillation loss against a teacher.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use slm_model::Transformer;

use crate::data::Batch;
use crate::distill::Teacher;

/// Sum over the batch of the loss, the number of counted items (target tokens, or rows), and the class
/// logits of a classification batch. With `teacher` (the teacher and the same examples collated on its
/// device) the loss is the distillation loss.
pub(super) fn batch_loss(
    model: &Transformer,
    batch: &Batch,
    teacher: Option<(&Teacher, &Batch)>,
) -> (Tensor<1>, usize, Option<Tensor<2>>) {
    let hidden = model.hidden(batch.inputs.clone(), &batch.ctx, &mut model.cache());
    if let Some(labels) = &batch.labels {
        let logits = model.class_logits(hidden, batch.last.clone());
        let [b, _] = logits.dims();
        let picked = log_softmax(logits.clone(), 1).gather(1, labels.clone().reshape([b, 1]));
        return (picked.sum().neg(), b, Some(logits));
    }
    let n = batch.n_targets;
    if n == 0 {
        return (Tensor::zeros([1], model.device()), 0, None);
    }
    let logits = model.lm_logits_rows(batch.counted_rows(hidden));
    let ce = log_softmax(logits.clone(), 1).gather(1, batch.targets.clone().reshape([n, 1])).sum().neg();
    let loss = match teacher {
        Some((t, t_batch)) => t.loss(logits, t.logits(t_batch).autodiff(), ce),
        None => ce,
    };
    (loss, n, None)
}
