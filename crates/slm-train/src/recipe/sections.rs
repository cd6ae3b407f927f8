//! The sections of a recipe, each with its keys' defaults in one `Default`, and the closed sets of
//! values some keys take.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use slm_model::{Family, Head};

use super::TokenizerKind;
use crate::schedule::Decay;

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

/// `[self_training]`: rounds of pseudo-labeling the unlabeled data with the best model so far and training
/// again on the labeled and the kept pseudo-labeled records; a round is kept only if it raises the
/// validation score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SelfTrainingSection {
    /// The unlabeled records (.jsonl, .csv, .tsv, .txt).
    pub unlabeled: PathBuf,
    /// Their text field.
    pub field: String,
    /// Pseudo-labeling rounds after the supervised one.
    pub rounds: usize,
    /// Keep pseudo-labels whose probability is above this, in (0, 1]: one value, or one per round (the
    /// last repeats).
    pub threshold: Threshold,
    /// At most this many pseudo-labels per class, the most confident.
    pub top_k_per_class: Option<usize>,
    /// The same number of pseudo-labels for every class.
    pub balance: bool,
    /// At most this many pseudo-labeled records per labeled training record (the most confident).
    pub max_ratio: Option<f64>,
    /// How a pseudo-labeled record is trained on.
    pub consistency: Consistency,
}

/// The confidence threshold of self-training: one for every round, or a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Threshold {
    /// The same in every round.
    Fixed(f32),
    /// Round N uses the N-th value; rounds past the end use the last.
    PerRound(Vec<f32>),
}

impl Threshold {
    /// The threshold of `round` (1 is the first pseudo-labeling round).
    pub fn of_round(&self, round: usize) -> f32 {
        match self {
            Threshold::Fixed(t) => *t,
            Threshold::PerRound(ts) => ts[round.saturating_sub(1).min(ts.len().saturating_sub(1))],
        }
    }

    /// Every value it holds.
    pub fn values(&self) -> Vec<f32> {
        match self {
            Threshold::Fixed(t) => vec![*t],
            Threshold::PerRound(ts) => ts.clone(),
        }
    }
}

/// How self-training trains on a pseudo-labeled record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// On its text, with the label predicted from that text.
    #[default]
    None,
    /// FixMatch's rule: the label is predicted from the plain text, the loss is taken on a strongly
    /// augmented copy (random deletion, swap and synonym replacement, each of 20% of the words).
    Fixmatch,
}

impl Default for SelfTrainingSection {
    fn default() -> Self {
        SelfTrainingSection {
            unlabeled: PathBuf::new(),
            field: "text".into(),
            rounds: 3,
            threshold: Threshold::Fixed(0.9),
            top_k_per_class: None,
            balance: true,
            max_ratio: None,
            consistency: Consistency::None,
        }
    }
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
    /// Classification macro-F1 (the mean of the per-class F1 scores).
    MacroF1,
}

impl EvalMetric {
    /// Its name, as recipes spell it.
    pub fn name(self) -> &'static str {
        match self {
            EvalMetric::Loss => "loss",
            EvalMetric::RougeL => "rouge_l",
            EvalMetric::Accuracy => "accuracy",
            EvalMetric::MacroF1 => "macro_f1",
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
