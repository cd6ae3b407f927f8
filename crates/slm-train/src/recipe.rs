//! Recipes: one TOML file describes a run (model, tokenizer, data, objective, optimizer, schedule, batch,
//! evaluation, checkpoints, seed, backend). Unknown keys are errors that name the nearest valid key;
//! values are checked with messages that name the key. `--set section.key=value` overrides any key, and
//! the resolved recipe is saved in the run directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use slm_model::{Backend, Family, Head};

use crate::error::{Result, TrainError};
use crate::schedule::Decay;

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
}

/// `[distill]`: loss = alpha · T² · KL(teacher_T ‖ student_T) + (1 − alpha) · cross-entropy, per target token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistillSection {
    /// The teacher's model directory (f32, f16, bf16 or int8; it runs without gradients).
    pub teacher: PathBuf,
    /// Softmax temperature T of both distributions in the KL term.
    pub temperature: f64,
    /// Weight of the KL term (0: labels only, 1: teacher only).
    pub alpha: f64,
}

/// `[model]`: `from` a model directory, or an architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSection {
    /// An HF model directory to fine-tune (its tokenizer is used).
    pub from: Option<PathBuf>,
    /// Family of a model trained from scratch: `gpt2` or `llama`.
    pub family: Family,
    /// Blocks.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (default: `heads`).
    pub kv_heads: Option<usize>,
    /// Width of the residual stream.
    pub hidden: usize,
    /// MLP width (default: 4 x hidden for gpt2, 8/3 x hidden rounded up to 32 for llama).
    pub intermediate: Option<usize>,
    /// Context length (default: `data.max_length`).
    pub context: Option<usize>,
    /// Tie the LM head to the embeddings.
    pub tie_embeddings: bool,
    /// The head: `causal-lm`, `masked-lm` or `classification`.
    pub head: Head,
}

/// `[tokenizer]` of a model trained from scratch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenizerSection {
    /// An existing tokenizer.json; otherwise one is trained on the training data.
    pub path: Option<PathBuf>,
    /// Kind of a trained tokenizer: `char` or `bpe`.
    pub kind: TokenizerKind,
    /// Vocabulary size of a trained BPE tokenizer.
    pub vocab_size: usize,
}

/// The shape of the training records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataFormat {
    /// Raw text: a .txt file is one document; in JSONL/CSV each record's `text_field` is one.
    Text,
    /// `prompt_field` and `completion_field` per record; the loss covers the completion.
    PromptCompletion,
    /// Alpaca's instruction / input / output, rendered with Alpaca's prompt template.
    Alpaca,
    /// `text_field` and `label_field` per record (classification head).
    Classification,
    /// `messages_field` holds a conversation (`[{"role": ..., "content": ...}, ...]`) rendered with the
    /// model's chat template; the loss covers the assistant turns.
    Chat,
}

/// `[data]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSection {
    /// Training file (.txt, .jsonl, .csv, .tsv).
    pub train: PathBuf,
    /// Validation file; without it the training data is split 8:2 (`val_fraction`).
    pub val: Option<PathBuf>,
    /// Fraction held out for validation when `val` is absent (a single text document is cut at the end).
    pub val_fraction: f64,
    /// Record shape.
    pub format: DataFormat,
    /// Field with the text.
    pub text_field: String,
    /// Field with the prompt.
    pub prompt_field: String,
    /// Field with the completion.
    pub completion_field: String,
    /// Field with the class label.
    pub label_field: String,
    /// Field with a chat conversation.
    pub messages_field: String,
    /// Tokens per training sequence.
    pub max_length: usize,
    /// Text: concatenate documents (EOS between them) and cut fixed-length blocks; positions restart and
    /// attention stops at document boundaries.
    pub packing: bool,
    /// Visit the training items in a seeded random order (and, for text, from a random block offset) each
    /// epoch; `false` takes them in file order from offset 0.
    pub shuffle: bool,
    /// Fine-tuning: the loss covers only completion tokens (and the EOS after them).
    pub mask_prompt: bool,
}

/// `[optimizer]`: AdamW.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerSection {
    /// Peak learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// Decoupled weight decay (not applied to norms and biases).
    pub weight_decay: f64,
    /// Clip the global gradient norm to this (0 turns clipping off).
    pub grad_clip: f64,
}

/// `[schedule]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleSection {
    /// After warmup: `constant`, `linear`, `cosine` or `wsd`.
    pub decay: Decay,
    /// Linear warmup steps.
    pub warmup_steps: u64,
    /// Floor of the decay.
    pub min_lr: f64,
    /// WSD: fraction of the steps spent decaying.
    pub decay_fraction: f64,
}

/// `[train]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSection {
    /// Sequences per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimizer step.
    pub grad_accum: usize,
    /// Passes over the training data (ignored when `max_steps` is set).
    pub epochs: f64,
    /// Optimizer steps of the run.
    pub max_steps: Option<u64>,
    /// Log a training line every this many steps.
    pub log_every: u64,
    /// Shards each batch splits into on a CPU backend, run concurrently (default: one per CPU thread, at
    /// most `batch_size`; 1 runs batches whole, with multi-threaded kernels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<usize>,
}

/// `[eval]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSection {
    /// Evaluate every this many steps (and at the end).
    pub every: u64,
    /// Validation batches per evaluation (default: all).
    pub batches: Option<usize>,
    /// Stop after this many evaluations without a better `metric`.
    pub patience: Option<usize>,
    /// Generate for this many validation examples at each evaluation and score ROUGE-L against their
    /// completions (prompt-completion and Alpaca data; 0 turns it off).
    pub generate: usize,
    /// New tokens per generation of `generate`.
    pub max_new_tokens: usize,
    /// What decides `best/` and early stopping.
    pub metric: EvalMetric,
}

/// What decides `best/` and early stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalMetric {
    /// The validation loss (lower is better).
    #[default]
    Loss,
    /// ROUGE-L F-measure of generations on validation prompts (`eval.generate`).
    RougeL,
    /// Classification accuracy.
    Accuracy,
}

impl EvalMetric {
    /// Its name, as recipes spell it.
    pub fn name(self) -> &'static str {
        match self {
            EvalMetric::Loss => "loss",
            EvalMetric::RougeL => "rouge_l",
            EvalMetric::Accuracy => "accuracy",
        }
    }
}

/// `[checkpoint]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointSection {
    /// Save every this many steps (and at the end).
    pub every: u64,
    /// Checkpoints kept.
    pub keep: usize,
}

fn default_seed() -> u64 {
    1337
}

impl Default for DistillSection {
    fn default() -> Self {
        DistillSection { teacher: PathBuf::new(), temperature: 2.0, alpha: 0.5 }
    }
}

impl Default for ModelSection {
    fn default() -> Self {
        ModelSection {
            from: None,
            family: Family::Gpt2,
            layers: 4,
            heads: 4,
            kv_heads: None,
            hidden: 128,
            intermediate: None,
            context: None,
            tie_embeddings: true,
            head: Head::CausalLm,
        }
    }
}

impl Default for TokenizerSection {
    fn default() -> Self {
        TokenizerSection { path: None, kind: TokenizerKind::Char, vocab_size: 8000 }
    }
}

impl Default for DataSection {
    fn default() -> Self {
        DataSection {
            train: PathBuf::new(),
            val: None,
            val_fraction: 0.2,
            format: DataFormat::Text,
            text_field: "text".into(),
            prompt_field: "prompt".into(),
            completion_field: "completion".into(),
            label_field: "label".into(),
            messages_field: "messages".into(),
            max_length: 512,
            packing: true,
            shuffle: true,
            mask_prompt: true,
        }
    }
}

/// Common fine-tuning values: AdamW at 3e-5 with PyTorch's betas and epsilon, weight decay 0.01, gradient
/// norm clipped at 1.
impl Default for OptimizerSection {
    fn default() -> Self {
        OptimizerSection { lr: 3e-5, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01, grad_clip: 1.0 }
    }
}

impl Default for ScheduleSection {
    fn default() -> Self {
        ScheduleSection { decay: Decay::default(), warmup_steps: 500, min_lr: 0.0, decay_fraction: 0.2 }
    }
}

impl Default for TrainSection {
    fn default() -> Self {
        TrainSection { batch_size: 16, grad_accum: 1, epochs: 3.0, max_steps: None, log_every: 10, shards: None }
    }
}

impl Default for EvalSection {
    fn default() -> Self {
        EvalSection {
            every: 200,
            batches: None,
            patience: None,
            generate: 0,
            max_new_tokens: 64,
            metric: EvalMetric::Loss,
        }
    }
}

impl Default for CheckpointSection {
    fn default() -> Self {
        CheckpointSection { every: 500, keep: 3 }
    }
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
        if self.eval.metric == EvalMetric::Accuracy && self.model.head != Head::Classification {
            return Err("eval.metric = \"accuracy\" needs model.head = \"classification\"".into());
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
fn apply_override(table: &mut toml::Table, assignment: &str) -> std::result::Result<(), String> {
    let (key, raw) =
        assignment.split_once('=').ok_or_else(|| format!("--set `{assignment}` is not of the form key=value"))?;
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    let parts: Vec<&str> = key.trim().split('.').collect();
    let (last, sections) = parts.split_last().expect("split yields one part");
    let mut here = table;
    for s in sections {
        here = here
            .entry(s.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("--set {key}: `{s}` is not a section"))?;
    }
    here.insert(last.to_string(), value);
    Ok(())
}

/// serde's error as a sentence; an unknown key gets the nearest valid key.
fn explain(e: &toml::de::Error) -> String {
    let msg = e.message().to_owned();
    let Some(rest) = msg.strip_prefix("unknown field `") else { return msg };
    let Some((field, expected)) = rest.split_once('`') else { return msg };
    let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match names.iter().min_by_key(|n| edit_distance(field, n)) {
        Some(best) => format!("unknown key `{field}`; did you mean `{best}`?"),
        None => format!("unknown key `{field}`"),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "out = \"runs/x\"\n[model]\n[data]\ntrain = \"t.txt\"\n";

    #[test]
    fn defaults_are_the_briefs_best_practice() {
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
}
