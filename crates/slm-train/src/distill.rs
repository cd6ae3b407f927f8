//! Teacher-student distillation (Hinton et al., 2015). The student learns from the labels and from the
//! teacher's softened next-token distribution at every counted position:
//!
//! ```text
//! loss = alpha · T² · KL(softmax(teacher / T) ‖ softmax(student / T)) + (1 − alpha) · cross-entropy
//! ```
//!
//! The T² keeps the KL term's gradients on the scale of the cross-entropy's as T grows. The teacher runs
//! on the plain (non-autodiff) device: no graph, no gradients.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use slm_model::Transformer;
use tokenizers::Tokenizer;

use crate::data::Batch;
use crate::error::{Result, TrainError};
use crate::recipe::DistillSection;

/// A loaded teacher and the loss weights.
pub struct Teacher {
    /// The teacher model, on the plain device.
    pub model: Transformer,
    /// Softmax temperature T.
    pub temperature: f64,
    /// Weight of the KL term.
    pub alpha: f64,
}

impl Teacher {
    /// Loads the teacher of `section` on `device`, or `None` when alpha is 0 (labels only: the teacher would
    /// not change the loss). The teacher must share the student's tokenizer: the same vocabulary, token by
    /// token.
    ///
    /// # Errors
    /// The teacher does not load, or its tokenizer or vocabulary width differs from the student's.
    pub fn load(
        section: &DistillSection,
        student: &Tokenizer,
        vocab: usize,
        device: &Device,
    ) -> Result<Option<Teacher>> {
        if section.alpha == 0.0 {
            return Ok(None);
        }
        let dir = &section.teacher;
        let model = Transformer::load(dir, device)?;
        let path = dir.join("tokenizer.json");
        let theirs = slm_data::tokenizer::load(&path)?;
        let mismatch = |problem: String| TrainError::Recipe { path: path.clone(), problem };
        let (ours, theirs_vocab) = (student.get_vocab(true), theirs.get_vocab(true));
        if ours != theirs_vocab {
            let differing = ours.iter().find(|(t, id)| theirs_vocab.get(*t) != Some(id)).map(|(t, _)| t.clone());
            return Err(mismatch(format!(
                "the teacher's tokenizer differs from the student's ({} vs {} tokens{}); distillation needs one tokenizer",
                theirs_vocab.len(),
                ours.len(),
                differing.map(|t| format!(", first difference at {t:?}")).unwrap_or_default()
            )));
        }
        if model.config.vocab_size != vocab {
            return Err(mismatch(format!(
                "the teacher predicts {} tokens and the student {vocab}; distillation needs one vocabulary",
                model.config.vocab_size
            )));
        }
        Ok(Some(Teacher { model, temperature: section.temperature, alpha: section.alpha }))
    }

    /// The teacher's logits `[n_targets, vocab]` at the counted positions of `batch` (collated on the
    /// teacher's device).
    pub fn logits(&self, batch: &Batch) -> Tensor<2> {
        let hidden = self.model.hidden(batch.inputs.clone(), &batch.ctx, &mut self.model.cache());
        self.model.lm_logits_rows(batch.counted_rows(hidden))
    }

    /// Sum over the rows of alpha · T² · KL(teacher_T ‖ student_T) + (1 − alpha) · `ce_sum`, where
    /// `student` and `teacher` are logits `[rows, vocab]` of the same positions and `ce_sum` the summed
    /// cross-entropy of the labels.
    pub fn loss(&self, student: Tensor<2>, teacher: Tensor<2>, ce_sum: Tensor<1>) -> Tensor<1> {
        let t = self.temperature;
        let log_q = log_softmax(student.div_scalar(t), 1);
        let log_p = log_softmax(teacher.div_scalar(t), 1);
        let kl = log_p.clone().exp().mul(log_p.sub(log_q)).sum();
        kl.mul_scalar(self.alpha * t * t).add(ce_sum.mul_scalar(1.0 - self.alpha))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t2(rows: &[[f32; 3]]) -> Tensor<2> {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [rows.len(), 3]), &Device::flex())
    }

    fn kl_f64(p_logits: &[f32], q_logits: &[f32], t: f64) -> f64 {
        let soft = |l: &[f32]| {
            let m = l.iter().fold(f64::MIN, |a, &b| a.max(f64::from(b) / t));
            let z: f64 = l.iter().map(|&x| (f64::from(x) / t - m).exp()).sum();
            l.iter().map(|&x| (f64::from(x) / t - m).exp() / z).collect::<Vec<_>>()
        };
        let (p, q) = (soft(p_logits), soft(q_logits));
        p.iter().zip(&q).map(|(p, q)| p * (p / q).ln()).sum()
    }

    fn teacher(alpha: f64, temperature: f64) -> Teacher {
        let config = slm_model::Config {
            family: slm_model::Family::Gpt2,
            head: slm_model::Head::CausalLm,
            vocab_size: 3,
            hidden_size: 4,
            intermediate_size: 8,
            num_layers: 1,
            num_heads: 1,
            num_kv_heads: 1,
            max_positions: 4,
            norm_eps: 1e-5,
            rope_theta: 1e4,
            tie_word_embeddings: true,
            attention_bias: true,
            fused_projections: false,
            labels: vec![],
        };
        Teacher { model: Transformer::init(config, 0, &Device::flex()).unwrap(), temperature, alpha }
    }

    /// The loss equals an independent f64 computation of alpha·T²·KL + (1 − alpha)·CE.
    #[test]
    fn loss_is_the_weighted_sum_of_kl_and_cross_entropy() {
        let (s, t) = ([[1.0f32, -0.5, 2.0], [0.3, 0.2, -1.0]], [[0.5f32, 1.5, -0.2], [2.0, -1.0, 0.0]]);
        let ce = Tensor::<1>::from_data(TensorData::new(vec![1.7f32], [1]), &Device::flex());
        for (alpha, temp) in [(0.5, 2.0), (1.0, 1.0), (0.25, 4.0)] {
            let got = f64::from(teacher(alpha, temp).loss(t2(&s), t2(&t), ce.clone()).into_scalar::<f32>());
            let kl: f64 = (0..2).map(|r| kl_f64(&t[r], &s[r], temp)).sum();
            let want = alpha * temp * temp * kl + (1.0 - alpha) * 1.7;
            assert!((got - want).abs() < 1e-5, "alpha {alpha} T {temp}: {got} vs {want}");
        }
    }

    /// A student that equals its teacher pays only the label term.
    #[test]
    fn identical_distributions_cost_only_the_labels() {
        let x = [[1.0f32, -0.5, 2.0]];
        let ce = Tensor::<1>::from_data(TensorData::new(vec![2.0f32], [1]), &Device::flex());
        let got = f64::from(teacher(0.5, 2.0).loss(t2(&x), t2(&x), ce).into_scalar::<f32>());
        assert!((got - 1.0).abs() < 1e-6, "{got}");
    }
}
