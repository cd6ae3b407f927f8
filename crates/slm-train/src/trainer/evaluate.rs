//! Evaluation during a run: the validation loss (and the class report of a classifier) and the ROUGE-L of
//! greedy generations on validation prompts.

use burn::prelude::*;
use slm_eval::classify::ClassReport;
use slm_eval::rouge::{self, RougeConfig, RougeTokenizer, RougeType, Tokenize};
use slm_model::generate::{GenerateOptions, Generator};

use super::loss::batch_loss;
use super::{Clock, Run};
use crate::data::{self, Example};
use crate::error::Result;
use crate::metrics::{Metrics, Row};
use crate::mlm;
use crate::observer::{EvalLog, Observer};
use crate::recipe::EvalMetric;

fn ints(t: Tensor<1, Int>) -> Vec<i64> {
    t.into_data().convert::<i64>().try_to_vec().expect("int data")
}

impl Run {
    /// The evaluation at `step`: validation loss, class report, generation score; `best/` is written when
    /// `eval.metric` improved. Returns the validation loss and whether early stopping (`eval.patience`)
    /// ends the run.
    pub(super) fn evaluate_and_keep_best(
        &mut self,
        step: u64,
        metrics: &mut Metrics,
        clock: &Clock,
        obs: &mut dyn Observer,
    ) -> Result<(f64, bool)> {
        let (loss, report) = self.evaluate();
        let accuracy = report.as_ref().map(|r| r.accuracy);
        if let Some(r) = &report {
            let f1: Vec<String> = r.classes.iter().map(|(l, c)| format!("{l} {:.4}", c.f1)).collect();
            obs.note(&format!(
                "step {step}: accuracy {:.4}, macro F1 {:.4}, F1 by class: {}",
                r.accuracy,
                r.macro_f1,
                f1.join(", ")
            ));
        }
        let rouge_l = self.generation_score()?;
        // The value of eval.metric, oriented so that higher is better.
        let score = match self.recipe.eval.metric {
            EvalMetric::RougeL => rouge_l.unwrap_or(0.0),
            EvalMetric::Accuracy => accuracy.unwrap_or(0.0),
            EvalMetric::MacroF1 => report.as_ref().map_or(0.0, |r| r.macro_f1),
            EvalMetric::Loss => -loss,
        };
        let best = self.state.best_val.is_none_or(|b| score > b);
        if best {
            self.state.best_val = Some(score);
            self.state.stale_evals = 0;
            self.save_model("best")?;
        } else {
            self.state.stale_evals += 1;
        }
        obs.eval(&EvalLog { step, loss, accuracy, rouge_l, best });
        metrics.write(&Row {
            step,
            epoch: self.epochs_done(),
            split: "val",
            loss,
            elapsed_s: clock.elapsed(),
            accuracy,
            macro_f1: report.as_ref().map(|r| r.macro_f1),
            rouge_l,
            ..Row::default()
        })?;
        let stop = self.recipe.eval.patience.is_some_and(|p| self.state.stale_evals >= p);
        if stop {
            obs.note(&format!(
                "early stopping at step {step}: no better {} in {} evaluations",
                self.recipe.eval.metric.name(),
                self.state.stale_evals
            ));
        }
        Ok((loss, stop))
    }

    /// Validation loss (per target token, or per example) and, for classification, the class report.
    pub(super) fn evaluate(&mut self) -> (f64, Option<ClassReport>) {
        use rayon::prelude::*;
        let model = self.model.inference();
        let device = model.device().clone();
        let bs = self.recipe.train.batch_size;
        let limit = self.recipe.eval.batches.unwrap_or(usize::MAX);
        let order = self.val.epoch_plan(self.recipe.seed, 0, false);
        let names = &model.config.labels;
        // The same masking at every evaluation, so that validation losses compare.
        let mut eval_rng = mlm::step_rng(self.recipe.seed, u64::MAX);
        let chunks: Vec<Vec<Example>> = order
            .chunks(bs)
            .take(limit)
            .map(|chunk| self.masked(chunk.iter().map(|&i| self.val.get(i)).collect(), &mut eval_rng))
            .collect();
        // Batches are independent: on a CPU they run concurrently, one per thread (as training shards do),
        // and their sums are added in batch order.
        let one = |examples: &Vec<Example>| {
            let batch = data::collate(examples, self.specials.pad, self.mask_id.is_some(), &device);
            let (s, n, class_logits) = batch_loss(&model, &batch, None);
            let classes = class_logits.zip(batch.labels).map(|(logits, labels)| {
                let name = |i: i64| names[i as usize].clone();
                let pred: Vec<String> = ints(logits.argmax(1).reshape([n])).into_iter().map(name).collect();
                (pred, ints(labels).into_iter().map(name).collect::<Vec<String>>())
            });
            (f64::from(s.into_scalar::<f32>()), n, classes)
        };
        let results: Vec<_> =
            if self.shards > 1 { chunks.par_iter().map(one).collect() } else { chunks.iter().map(one).collect() };
        let (mut sum, mut count) = (0.0, 0usize);
        let (mut pred, mut gold) = (Vec::new(), Vec::new());
        for (s, n, classes) in results {
            sum += s;
            count += n;
            if let Some((p, g)) = classes {
                pred.extend(p);
                gold.extend(g);
            }
        }
        let report = (!gold.is_empty()).then(|| slm_eval::classify::report(&pred, &gold));
        (sum / count.max(1) as f64, report)
    }

    /// Mean ROUGE-L F-measure (stemmed, rouge-score's conventions) of greedy generations for the
    /// validation prompts of `eval.generate`, or `None` when it is off.
    pub(super) fn generation_score(&self) -> Result<Option<f64>> {
        if self.val_pairs.is_empty() {
            return Ok(None);
        }
        let mut model = self.model.inference();
        model.merge_lora();
        let generator = Generator::new(model, self.tokenizer.clone(), None, vec![self.specials.eos]);
        let opts = GenerateOptions { max_new_tokens: self.recipe.eval.max_new_tokens, ..GenerateOptions::default() };
        let prompts: Vec<String> = self.val_pairs.iter().map(|(p, _)| p.clone()).collect();
        let mut texts = vec![String::new(); prompts.len()];
        generator.generate_batched(&prompts, &opts, 8, |o| texts[o.id] = o.text)?;
        let cfg = RougeConfig { types: vec![RougeType::L], stemmer: true, tokenizer: RougeTokenizer::Default };
        let mut tok = Tokenize::new(&cfg);
        let total: f64 = self
            .val_pairs
            .iter()
            .zip(&texts)
            .map(|((_, reference), hyp)| rouge::score(&mut tok, reference, hyp)[0].fmeasure)
            .sum();
        Ok(Some(total / texts.len() as f64))
    }
}
