//! Recipes: one TOML file describes a run (model, tokenizer, data, objective, optimizer, schedule, batch,
//! evaluation, checkpoints, seed, backend). Unknown keys are errors that name the nearest valid key;
//! values are checked with messages that name the key. `--set section.key=value` overrides any key, and
//! the resolved recipe is saved in the run directory.

use std::path::{Path, PathBuf};

mod overrides;
mod sections;

use serde::{Deserialize, Serialize};
use slm_model::{Backend, Head};

use self::overrides::{apply_override, explain};
pub use self::sections::*;
use crate::error::{Result, TrainError};

/// Kind of a tokenizer trained for the run: `char` or `bpe`.
pub use slm_data::tokenizer::Kind as TokenizerKind;

/// A whole training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Run directory (checkpoints, metrics.csv, final/ and best/ models).
    pub out: PathBuf,
    /// Seed of initialisation, data order and masking.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Burn backend: `flex` (default CPU), `ndarray`, `wgpu` (the last two need cargo features).
    #[serde(default)]
    pub backend: Backend,
    /// The model to fine-tune or the architecture to train from scratch.
    pub model: ModelSection,
    /// The tokenizer of a model trained from scratch.
    #[serde(default)]
    pub tokenizer: TokenizerSection,
    /// Training and validation data.
    pub data: DataSection,
    /// AdamW.
    #[serde(default)]
    pub optimizer: OptimizerSection,
    /// Learning-rate schedule.
    #[serde(default)]
    pub schedule: ScheduleSection,
    /// Batches and length of the run.
    #[serde(default)]
    pub train: TrainSection,
    /// Evaluation on the validation data.
    #[serde(default)]
    pub eval: EvalSection,
    /// Checkpoints.
    #[serde(default)]
    pub checkpoint: CheckpointSection,
    /// LoRA: train low-rank adapters on a frozen `model.from` instead of every weight.
    pub lora: Option<slm_model::nn::LoraConfig>,
    /// Distillation from a teacher model that shares the tokenizer.
    pub distill: Option<DistillSection>,
    /// Self-training on unlabeled data (classifiers).
    pub self_training: Option<SelfTrainingSection>,
}

fn default_seed() -> u64 {
    1337
}

impl Recipe {
    /// Reads a recipe, applies `overrides` (`section.key=value`, the value in TOML syntax or a bare
    /// string) and checks every value. Relative paths are relative to the working directory.
    ///
    /// # Errors
    /// Unreadable file, bad TOML, unknown key (with the nearest valid one), bad value.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Recipe> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        Recipe::parse(&text, overrides).map_err(|problem| TrainError::Recipe { path: path.to_owned(), problem })
    }

    /// [`Recipe::load`] on a string; the error is a sentence.
    ///
    /// # Errors
    /// As [`Recipe::load`].
    pub fn parse(text: &str, overrides: &[String]) -> std::result::Result<Recipe, String> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| format!("not valid TOML: {}", e.message()))?;
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        let recipe: Recipe = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            let problem = explain(e.inner());
            if key.is_empty() || key == "." || problem.starts_with("unknown key") {
                problem
            } else {
                format!("{key}: {problem}")
            }
        })?;
        recipe.check()?;
        Ok(recipe)
    }

    /// The resolved recipe as TOML (saved as `RUN/recipe.resolved.toml`).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a recipe serializes")
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.data.train.as_os_str().is_empty() {
            return Err("data.train must name the training file".into());
        }
        if self.distill.as_ref().is_some_and(|d| d.teacher.as_os_str().is_empty()) {
            return Err("distill.teacher must name the teacher's model directory".into());
        }
        let positive = [
            ("optimizer.lr", self.optimizer.lr),
            ("optimizer.eps", self.optimizer.eps),
            ("train.epochs", self.train.epochs),
        ];
        for (key, v) in positive {
            if !(v > 0.0 && v.is_finite()) {
                return Err(format!("{key} must be > 0, got {v}"));
            }
        }
        let fractions = [
            ("optimizer.beta1", self.optimizer.beta1),
            ("optimizer.beta2", self.optimizer.beta2),
            ("data.val_fraction", self.data.val_fraction),
            ("schedule.decay_fraction", self.schedule.decay_fraction),
        ];
        for (key, v) in fractions {
            if !(0.0..1.0).contains(&v) {
                return Err(format!("{key} must be in [0, 1), got {v}"));
            }
        }
        let non_negative = [
            ("optimizer.weight_decay", self.optimizer.weight_decay),
            ("optimizer.grad_clip", self.optimizer.grad_clip),
            ("schedule.min_lr", self.schedule.min_lr),
        ];
        for (key, v) in non_negative {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(format!("{key} must be >= 0, got {v}"));
            }
        }
        let counts = [
            ("train.batch_size", self.train.batch_size),
            ("train.grad_accum", self.train.grad_accum),
            ("train.shards", self.train.shards.unwrap_or(1)),
            ("data.max_length", self.data.max_length),
            ("checkpoint.keep", self.checkpoint.keep),
            ("model.layers", self.model.layers),
            ("model.heads", self.model.heads),
            ("model.hidden", self.model.hidden),
        ];
        for (key, v) in counts {
            if v == 0 {
                return Err(format!("{key} must be > 0, got 0"));
            }
        }
        for (key, v) in [("eval.every", self.eval.every), ("checkpoint.every", self.checkpoint.every)] {
            if v == 0 {
                return Err(format!("{key} must be > 0, got 0"));
            }
        }
        if self.train.max_steps == Some(0) {
            return Err("train.max_steps must be > 0, got 0".into());
        }
        if self.schedule.min_lr > self.optimizer.lr {
            return Err(format!(
                "schedule.min_lr ({}) must not exceed optimizer.lr ({})",
                self.schedule.min_lr, self.optimizer.lr
            ));
        }
        let generates = matches!(self.data.format, DataFormat::PromptCompletion | DataFormat::Alpaca);
        if (self.eval.generate > 0 || self.eval.metric == EvalMetric::RougeL) && !generates {
            return Err(
                "eval.generate and eval.metric = \"rouge_l\" need data.format prompt-completion or alpaca".into()
            );
        }
        if self.eval.metric == EvalMetric::RougeL && self.eval.generate == 0 {
            return Err("eval.metric = \"rouge_l\" needs eval.generate > 0".into());
        }
        let classifies = matches!(self.eval.metric, EvalMetric::Accuracy | EvalMetric::MacroF1);
        if classifies && self.model.head != Head::Classification {
            return Err(format!("eval.metric = \"{}\" needs model.head = \"classification\"", self.eval.metric.name()));
        }
        if let Some(st) = &self.self_training {
            if self.data.format != DataFormat::Classification {
                return Err("[self_training] needs data.format = \"classification\"".into());
            }
            if st.unlabeled.as_os_str().is_empty() {
                return Err("self_training.unlabeled must name the file of unlabeled records".into());
            }
            let thresholds = st.threshold.values();
            if thresholds.is_empty() {
                return Err("self_training.threshold must hold at least one value".into());
            }
            if let Some(t) = thresholds.iter().find(|t| !(**t > 0.0 && **t <= 1.0)) {
                return Err(format!("self_training.threshold must be in (0, 1], got {t}"));
            }
            if st.rounds == 0 || st.top_k_per_class == Some(0) {
                return Err("self_training.rounds and self_training.top_k_per_class must be at least 1".into());
            }
            if st.max_ratio.is_some_and(|r| r.is_nan() || r <= 0.0) {
                return Err("self_training.max_ratio must be > 0".into());
            }
        }
        if self.data.format == DataFormat::Classification && self.model.head != Head::Classification {
            return Err("data.format = \"classification\" needs model.head = \"classification\"".into());
        }
        if let Some(lora) = &self.lora {
            lora.check()?;
            if self.model.from.is_none() {
                return Err("[lora] adapts a pretrained model: set model.from".into());
            }
            if self.model.head != Head::CausalLm {
                return Err("[lora] needs model.head = \"causal-lm\"".into());
            }
        }
        if let Some(d) = &self.distill {
            if !(d.temperature > 0.0 && d.temperature.is_finite()) {
                return Err(format!("distill.temperature must be > 0, got {}", d.temperature));
            }
            if !(0.0..=1.0).contains(&d.alpha) {
                return Err(format!("distill.alpha must be in [0, 1], got {}", d.alpha));
            }
            if self.model.head != Head::CausalLm {
                return Err("[distill] needs model.head = \"causal-lm\"".into());
            }
        }
        Ok(())
    }
}

/// Sets `a.b.c = value` in `table`; `value` is parsed as TOML, or taken as a string when it is not TOML.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Decay;

    const MINIMAL: &str = "out = \"runs/x\"\n[model]\n[data]\ntrain = \"t.txt\"\n";

    #[test]
    fn defaults_are_common_fine_tuning_practice() {
        let r = Recipe::parse(MINIMAL, &[]).unwrap();
        assert_eq!(r.optimizer.lr, 3e-5);
        assert_eq!(r.train.batch_size, 16);
        assert_eq!(r.train.epochs, 3.0);
        assert_eq!(r.schedule.warmup_steps, 500);
        assert_eq!(r.data.val_fraction, 0.2);
    }

    #[test]
    fn unknown_keys_name_the_nearest_valid_one() {
        let text = format!("{MINIMAL}[optimizer]\nlearning_rat = 1e-3\n");
        let err = Recipe::parse(&text, &[]).unwrap_err();
        assert!(err.contains("unknown key `learning_rat`"), "{err}");
        let err = Recipe::parse(&format!("{MINIMAL}[train]\nbatch_sise = 2\n"), &[]).unwrap_err();
        assert!(err.contains("did you mean `batch_size`?"), "{err}");
    }

    #[test]
    fn values_are_checked_by_key() {
        let err = Recipe::parse(MINIMAL, &["optimizer.lr=-1".into()]).unwrap_err();
        assert_eq!(err, "optimizer.lr must be > 0, got -1");
        let err = Recipe::parse(MINIMAL, &["optimizer.beta2=1.5".into()]).unwrap_err();
        assert!(err.starts_with("optimizer.beta2 must be in [0, 1)"), "{err}");
    }

    #[test]
    fn overrides_set_any_key_and_round_trip() {
        let r = Recipe::parse(MINIMAL, &["optimizer.lr=1e-4".into(), "schedule.decay=cosine".into()]).unwrap();
        assert_eq!(r.optimizer.lr, 1e-4);
        assert_eq!(r.schedule.decay, Decay::Cosine);
        assert_eq!(Recipe::parse(&r.to_toml(), &[]).unwrap(), r);
    }

    #[test]
    fn a_self_training_threshold_is_one_value_or_a_schedule() {
        let base = "out = \"runs/x\"\n[model]\nhead = \"classification\"\n[data]\ntrain = \"t.jsonl\"\nformat = \"classification\"\n";
        let with =
            |t: &str| Recipe::parse(&format!("{base}[self_training]\nunlabeled = \"u.jsonl\"\nthreshold = {t}\n"), &[]);
        let r = with("[0.99, 0.8]").unwrap();
        let t = &r.self_training.as_ref().unwrap().threshold;
        assert_eq!([1, 2, 5].map(|round| t.of_round(round)), [0.99, 0.8, 0.8]);
        assert_eq!(Recipe::parse(&r.to_toml(), &[]).unwrap(), r);
        assert_eq!(with("0.7").unwrap().self_training.unwrap().threshold.of_round(3), 0.7);
        assert!(with("[0.9, 1.5]").unwrap_err().contains("self_training.threshold must be in (0, 1], got 1.5"));
        assert!(with("[]").unwrap_err().contains("at least one value"));
    }
}
