//! The training loop: prepare the run (tokenizer, data, model), then for every optimizer step gather
//! `batch_size x grad_accum` examples, accumulate gradients of the loss normalised over all target tokens
//! of the window, clip by the global norm, update with AdamW at the schedule's rate; evaluate, checkpoint
//! and log on the way; write `final/` (and `best/`) as HF model directories.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use slm_model::{Config, Head, Transformer};
use tokenizers::Tokenizer;

use slm_eval::classify::ClassReport;
use slm_eval::rouge::{self, RougeConfig, RougeTokenizer, RougeType, Tokenize};
use slm_model::generate::{GenerateOptions, Generator};

use crate::checkpoint::{self, State};
use crate::data::{self, Batch, Dataset, Example, Specials};
use crate::distill::Teacher;
use crate::error::{Result, TrainError};
use crate::metrics::{Metrics, Row};
use crate::mlm;
use crate::optim::{self, AdamW, Grads};
use crate::recipe::{DataFormat, Recipe};
use crate::schedule::Schedule;

/// Memory the default shard count may spend on per-shard gradient copies.
const GRADIENT_COPIES_BYTES: usize = 2 << 30;

/// How to run a recipe.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Continue the run in `recipe.out` from its newest checkpoint.
    pub resume: bool,
    /// Replace an existing run directory.
    pub overwrite: bool,
    /// Stop (with a checkpoint) after this optimizer step, as if interrupted; resume continues.
    pub stop_after: Option<u64>,
}

/// A training line.
#[derive(Debug, Clone)]
pub struct StepLog {
    /// Step just done.
    pub step: u64,
    /// Steps of the run.
    pub total: u64,
    /// Epochs done.
    pub epoch: f64,
    /// Mean loss of the step.
    pub loss: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Input tokens per second of this step.
    pub tokens_per_s: f64,
}

/// An evaluation line.
#[derive(Debug, Clone)]
pub struct EvalLog {
    /// Step evaluated at.
    pub step: u64,
    /// Validation loss.
    pub loss: f64,
    /// Accuracy (classification).
    pub accuracy: Option<f64>,
    /// ROUGE-L F-measure of generations on validation examples (`eval.generate`).
    pub rouge_l: Option<f64>,
    /// Whether this is the best so far by `eval.metric`.
    pub best: bool,
}

/// Receives progress (the CLI draws a progress bar or prints plain lines).
pub trait Observer {
    /// The run starts at `first` of `total` steps.
    fn start(&mut self, first: u64, total: u64);
    /// A step finished.
    fn step(&mut self, log: &StepLog);
    /// An evaluation finished.
    fn eval(&mut self, log: &EvalLog);
    /// Something worth a line.
    fn note(&mut self, message: &str);
}

/// An observer that ignores everything (library use and tests).
pub struct Silent;

impl Observer for Silent {
    fn start(&mut self, _: u64, _: u64) {}
    fn step(&mut self, _: &StepLog) {}
    fn eval(&mut self, _: &EvalLog) {}
    fn note(&mut self, _: &str) {}
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Run directory.
    pub run: PathBuf,
    /// Steps done in total.
    pub steps: u64,
    /// Loss of every step this process ran, in order.
    pub losses: Vec<f64>,
    /// Last validation loss.
    pub val_loss: Option<f64>,
    /// Best value of `eval.metric` (the validation loss by default).
    pub best_metric: Option<f64>,
    /// Parameters of the model.
    pub parameters: usize,
    /// Parameters training updates (the adapters under LoRA, else all).
    pub trainable_parameters: usize,
    /// Mean training throughput of this process.
    pub tokens_per_s: f64,
    /// Where the final model is (None when stopped early by `stop_after`).
    pub final_model: Option<PathBuf>,
}

/// Everything a run holds.
struct Run {
    recipe: Recipe,
    dir: PathBuf,
    device: Device,
    model: Transformer,
    tokenizer_dir: PathBuf,
    train: Dataset,
    val: Dataset,
    specials: Specials,
    /// The mask token of masked-LM training (`None`: another objective).
    mask_id: Option<u32>,
    tokenizer: Tokenizer,
    /// (prompt, reference) of the validation examples generated for at each evaluation.
    val_pairs: Vec<(String, String)>,
    opt: AdamW,
    schedule: Schedule,
    state: State,
    /// The epoch whose plan is cached, and its items.
    plan: (u64, Vec<usize>),
    /// The teacher of a distillation run.
    teacher: Option<Teacher>,
    /// Shards per batch (see `step`).
    shards: usize,
}

/// Runs (or resumes) a recipe.
///
/// # Errors
/// Bad data, a model that does not load, a diverging loss, an unusable run directory, I/O failures.
pub fn train(recipe: &Recipe, opts: &RunOptions, obs: &mut dyn Observer) -> Result<Summary> {
    let fresh = !opts.resume && !recipe.out.exists();
    let mut run = prepare(recipe, opts, obs).inspect_err(|_| {
        // A run that could not even start leaves nothing behind.
        if fresh {
            let _ = std::fs::remove_dir_all(&recipe.out);
        }
    })?;
    run.fit(opts, obs)
}

fn prepare(recipe: &Recipe, opts: &RunOptions, obs: &mut dyn Observer) -> Result<Run> {
    let dir = recipe.out.clone();
    let recipe_path = dir.join("recipe.resolved.toml");
    if opts.resume {
        let saved = std::fs::read_to_string(&recipe_path).map_err(|e| TrainError::io(&recipe_path, e))?;
        let saved =
            Recipe::parse(&saved, &[]).map_err(|problem| TrainError::Recipe { path: recipe_path.clone(), problem })?;
        if saved != *recipe {
            return Err(TrainError::Run {
                path: dir,
                problem: "was trained with another recipe (see its recipe.resolved.toml); resume with the same recipe"
                    .into(),
            });
        }
    } else if dir.exists() && std::fs::read_dir(&dir).map_err(|e| TrainError::io(&dir, e))?.next().is_some() {
        if !opts.overwrite {
            return Err(TrainError::Run {
                path: dir,
                problem: "already holds a run; pass --resume to continue it or --force to start over".into(),
            });
        }
        std::fs::remove_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
    if !opts.resume {
        std::fs::write(&recipe_path, recipe.to_toml()).map_err(|e| TrainError::io(&recipe_path, e))?;
    }
    let device = recipe.backend.device()?.autodiff();

    let (train_records, val_records, val_path) = split_records(recipe)?;
    let (tokenizer, tokenizer_dir) = tokenizer(recipe, &dir, opts.resume, &train_records)?;
    let eos_hint = read_json(&tokenizer_dir.join("tokenizer_config.json"))["eos_token"].as_str().map(str::to_owned);
    let specials = Specials::of(&tokenizer, eos_hint.as_deref(), &tokenizer_dir.join("tokenizer.json"))?;
    let labels = class_labels(recipe, &train_records);
    let val_pairs: Vec<(String, String)> = val_records
        .iter()
        .take(recipe.eval.generate)
        .map(|(_, v)| match recipe.data.format {
            DataFormat::Alpaca => (data::alpaca_prompt(&v[0], &v[1]), v[2].clone()),
            _ => (v[0].clone(), v[1].clone()),
        })
        .collect();
    let chat = slm_model::generate::chat::ChatTemplate::load(&tokenizer_dir);
    let train =
        data::build(&train_records, &recipe.data, &tokenizer, specials, &labels, chat.as_ref(), &recipe.data.train)?;
    let val = data::build(&val_records, &recipe.data, &tokenizer, specials, &labels, chat.as_ref(), &val_path)?;
    if train.is_empty() || val.is_empty() {
        return Err(TrainError::Data {
            path: recipe.data.train.clone(),
            problem: "no training or validation examples".into(),
        });
    }

    let config = model_config(recipe, &tokenizer, &labels)?;
    let mask_id = if config.head == Head::MaskedLm {
        let id = ["<|mask|>", "[MASK]", "<mask>"].iter().find_map(|t| tokenizer.token_to_id(t));
        Some(id.ok_or_else(|| TrainError::Data {
            path: tokenizer_dir.join("tokenizer.json"),
            problem:
                "the tokenizer has no mask token (<|mask|>, [MASK] or <mask>); masked-LM training needs one".into(),
        })?)
    } else {
        None
    };
    let checkpoints = checkpoint::list(&dir);
    let mut opt = AdamW::new(recipe.optimizer.clone());
    let (mut model, state) = match (opts.resume, checkpoints.last()) {
        (true, Some(last)) => {
            let mut model = match &recipe.model.from {
                // A LoRA checkpoint holds the adapters; the frozen base comes from the recipe.
                Some(from) if recipe.lora.is_some() => {
                    let mut model = Transformer::load_with(from, config, &device)?;
                    model.load_lora(last)?;
                    model
                }
                _ => Transformer::load_with(last, config, &device)?,
            };
            model.set_training(true);
            let state = checkpoint::load(last, &mut opt, &device.clone().without_autodiff())?;
            obs.note(&format!("resuming from {} (step {})", last.display(), state.step));
            (model, state)
        }
        (true, None) => {
            return Err(TrainError::Run { path: dir, problem: "has no checkpoint to resume from".into() });
        }
        (false, _) => {
            let model = match &recipe.model.from {
                Some(from) => Transformer::load_with(from, config, &device)?,
                None => Transformer::init(config, recipe.seed, &device)?,
            };
            (model, State::default())
        }
    };
    if let (Some(lora), false) = (&recipe.lora, opts.resume) {
        attach_lora(&mut model, lora, recipe.seed)?;
    }
    let teacher = match &recipe.distill {
        Some(d) => Teacher::load(d, &tokenizer, model.config.vocab_size, &device.clone().without_autodiff())?,
        None => None,
    };
    let steps_per_epoch = (train.len() as f64 / (recipe.train.batch_size * recipe.train.grad_accum) as f64).max(1.0);
    let total = recipe.train.max_steps.unwrap_or((recipe.train.epochs * steps_per_epoch).ceil() as u64).max(1);
    let schedule = Schedule {
        lr: recipe.optimizer.lr,
        warmup: recipe.schedule.warmup_steps.min(total.saturating_sub(1)),
        decay: recipe.schedule.decay,
        min_lr: recipe.schedule.min_lr,
        total,
        decay_fraction: recipe.schedule.decay_fraction,
    };
    Ok(Run {
        recipe: recipe.clone(),
        dir,
        device,
        model,
        tokenizer_dir,
        train,
        val,
        specials,
        mask_id,
        tokenizer,
        val_pairs,
        opt,
        schedule,
        state,
        plan: (u64::MAX, Vec::new()),
        teacher,
        shards: 1,
    })
}

/// Fresh adapters, or those of `lora.from` (whose rank, alpha and dropout must be the recipe's), with
/// dropout on.
fn attach_lora(model: &mut Transformer, lora: &slm_model::nn::LoraConfig, seed: u64) -> Result<()> {
    match &lora.from {
        None => {
            model.attach_lora(lora, seed)?;
        }
        Some(from) => {
            let found = model.load_lora(from)?;
            if (found.rank, found.alpha, found.dropout) != (lora.rank, lora.alpha, lora.dropout) {
                return Err(TrainError::Recipe {
                    path: from.join(slm_model::io::peft::ADAPTER_CONFIG),
                    problem: format!(
                        "the adapter has r = {}, alpha = {}, dropout = {} but the recipe's [lora] says {}, {}, {}",
                        found.rank, found.alpha, found.dropout, lora.rank, lora.alpha, lora.dropout
                    ),
                });
            }
        }
    }
    model.set_training(true);
    Ok(())
}

fn read_json(path: &Path) -> serde_json::Value {
    std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}

/// The tokenizer: the fine-tuned model's, the recipe's file, or one trained on the texts of the training
/// records into `RUN/tokenizer/`. Returns it with the directory that holds its files.
fn tokenizer(recipe: &Recipe, run: &Path, resume: bool, records: &Records) -> Result<(Tokenizer, PathBuf)> {
    let dir = if let Some(from) = &recipe.model.from {
        from.clone()
    } else {
        let dir = run.join("tokenizer");
        let path = dir.join("tokenizer.json");
        if !(resume && path.is_file()) {
            std::fs::create_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
            match &recipe.tokenizer.path {
                Some(p) => {
                    std::fs::copy(p, &path).map_err(|e| TrainError::io(p, e))?;
                }
                None => {
                    let kind = if recipe.tokenizer.kind == "bpe" {
                        slm_data::tokenizer::Kind::Bpe
                    } else {
                        slm_data::tokenizer::Kind::Char
                    };
                    // Every text the model will see (all fields of every training record), as plain text.
                    let corpus = dir.join("corpus.txt");
                    let text: String = records.iter().flat_map(|(_, v)| v.iter().map(|t| t.clone() + "\n")).collect();
                    std::fs::write(&corpus, text).map_err(|e| TrainError::io(&corpus, e))?;
                    let opts = slm_data::tokenizer::TrainOptions {
                        kind,
                        vocab_size: recipe.tokenizer.vocab_size,
                        field: "text".into(),
                        out: path.clone(),
                        overwrite: true,
                    };
                    let trained = slm_data::tokenizer::train(std::slice::from_ref(&corpus), &opts);
                    std::fs::remove_file(&corpus).map_err(|e| TrainError::io(&corpus, e))?;
                    trained?;
                    if recipe.model.head == Head::MaskedLm {
                        let mut tk = slm_data::tokenizer::load(&path)?;
                        let failed = |e: tokenizers::Error| TrainError::Data {
                            path: path.clone(),
                            problem: format!("cannot add the mask token: {e}"),
                        };
                        tk.add_special_tokens([tokenizers::AddedToken::from("<|mask|>", true)]).map_err(failed)?;
                        tk.save(&path, false).map_err(failed)?;
                    }
                }
            }
            let config = serde_json::json!({
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|pad|>",
                "model_max_length": recipe.model.context.unwrap_or(recipe.data.max_length),
            });
            let cfg_path = dir.join("tokenizer_config.json");
            std::fs::write(&cfg_path, serde_json::to_string_pretty(&config).expect("json") + "\n")
                .map_err(|e| TrainError::io(&cfg_path, e))?;
        }
        dir
    };
    let tokenizer = slm_data::tokenizer::load(&dir.join("tokenizer.json"))?;
    Ok((tokenizer, dir))
}

type Records = Vec<(u64, Vec<String>)>;

/// Training and validation records; without a validation file, the last `val_fraction` of a single text
/// document, or an 8:2 split of the records with `slm split`'s planner (seeded, stratified by label for
/// classification, exact duplicates kept on one side).
fn split_records(recipe: &Recipe) -> Result<(Records, Records, PathBuf)> {
    let d = &recipe.data;
    let train = data::read_records(&d.train, d)?;
    if let Some(val) = &d.val {
        return Ok((train, data::read_records(val, d)?, val.clone()));
    }
    if train.len() == 1 {
        let text = &train[0].1[0];
        let mut cut = ((1.0 - d.val_fraction) * text.len() as f64) as usize;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        let (a, b) = text.split_at(cut);
        return Ok((vec![(1, vec![a.to_owned()])], vec![(1, vec![b.to_owned()])], d.train.clone()));
    }
    let classes: Vec<u32> = if d.format == DataFormat::Classification {
        let labels = class_labels(recipe, &train);
        train.iter().map(|(_, v)| labels.iter().position(|l| *l == v[1]).unwrap_or(0) as u32).collect()
    } else {
        vec![0; train.len()]
    };
    let n_classes = classes.iter().max().map_or(1, |m| *m as usize + 1);
    // Records with the same canonical text form one unit, so duplicates never straddle the split.
    let mut first: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    let units: Vec<u32> = train
        .iter()
        .enumerate()
        .map(|(i, (_, v))| *first.entry(slm_data::text::canonical(&v.join("\u{1f}"))).or_insert(i as u32))
        .collect();
    let sides = slm_data::split::plan(&classes, &units, n_classes, 1.0 - d.val_fraction, recipe.seed);
    let (mut tr, mut va) = (Vec::new(), Vec::new());
    for (record, side) in train.into_iter().zip(sides) {
        if side == slm_data::split::Side::Train { tr.push(record) } else { va.push(record) }
    }
    Ok((tr, va, d.train.clone()))
}

/// Sorted distinct labels of a classification dataset (empty otherwise).
fn class_labels(recipe: &Recipe, train: &Records) -> Vec<String> {
    if recipe.data.format != DataFormat::Classification {
        return Vec::new();
    }
    let set: std::collections::BTreeSet<&String> = train.iter().map(|(_, v)| &v[1]).collect();
    set.into_iter().cloned().collect()
}

fn model_config(recipe: &Recipe, tokenizer: &Tokenizer, labels: &[String]) -> Result<Config> {
    let m = &recipe.model;
    let mut config = match &m.from {
        Some(from) => Config::load(from)?,
        None => {
            let context = m.context.unwrap_or(recipe.data.max_length);
            let llama = m.family == slm_model::Family::Llama;
            let intermediate =
                m.intermediate.unwrap_or(if llama { (8 * m.hidden / 3).div_ceil(32) * 32 } else { 4 * m.hidden });
            Config {
                family: m.family,
                head: m.head,
                vocab_size: tokenizer.get_vocab_size(true),
                hidden_size: m.hidden,
                intermediate_size: intermediate,
                num_layers: m.layers,
                num_heads: m.heads,
                num_kv_heads: m.kv_heads.unwrap_or(m.heads),
                max_positions: context,
                norm_eps: 1e-5,
                rope_theta: 10_000.0,
                tie_word_embeddings: m.tie_embeddings,
                attention_bias: !llama,
                fused_projections: false,
                labels: vec!["LABEL_0".into(), "LABEL_1".into()],
            }
        }
    };
    config.head = m.head;
    if !labels.is_empty() {
        config.labels = labels.to_vec();
    }
    config.check().map_err(|problem| TrainError::Recipe { path: PathBuf::from("[model]"), problem })?;
    if recipe.data.max_length > config.max_positions {
        return Err(TrainError::Recipe {
            path: PathBuf::from("recipe"),
            problem: format!(
                "data.max_length ({}) exceeds the model's context ({})",
                recipe.data.max_length, config.max_positions
            ),
        });
    }
    Ok(config)
}

/// The hidden states `[n_targets, hidden]` of the counted positions of `batch`: the LM head and softmax run
/// only where a target counts (prompts, padding and unmasked MLM positions cost nothing there).
pub fn counted_rows(hidden: Tensor<3>, batch: &Batch) -> Tensor<2> {
    let [b, n, d] = hidden.dims();
    let rows = hidden.reshape([b * n, d]);
    match &batch.counted {
        Some(index) => rows.select(0, index.clone()),
        None => rows,
    }
}

/// Sum over the batch of the loss, the number of counted items (target tokens, or rows), and the class
/// logits of a classification batch. With `teacher` (the teacher and the same examples collated on its
/// device) the loss is the distillation loss.
fn batch_loss(
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
    let logits = model.lm_logits_rows(counted_rows(hidden, batch));
    let ce = log_softmax(logits.clone(), 1).gather(1, batch.targets.clone().reshape([n, 1])).sum().neg();
    let loss = match teacher {
        Some((t, t_batch)) => t.loss(logits, t.logits(t_batch).autodiff(), ce),
        None => ce,
    };
    (loss, n, None)
}

fn ints(t: Tensor<1, Int>) -> Vec<i64> {
    t.into_data().convert::<i64>().try_to_vec().expect("int data")
}

impl Run {
    /// The next `count` training examples, advancing the data cursor across epochs.
    fn next_examples(&mut self, count: usize) -> Vec<Example> {
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            if self.state.position >= self.train.len() {
                self.state.epoch += 1;
                self.state.position = 0;
            }
            if self.plan.0 != self.state.epoch {
                let plan = self.train.epoch_plan(self.recipe.seed, self.state.epoch, self.recipe.data.shuffle);
                self.plan = (self.state.epoch, plan);
            }
            out.push(self.train.get(self.plan.1[self.state.position]));
            self.state.position += 1;
        }
        out
    }

    fn epochs_done(&self) -> f64 {
        self.state.epoch as f64 + self.state.position as f64 / self.train.len() as f64
    }

    /// `examples` corrupted for masked-LM training (unchanged for other objectives).
    fn masked(&self, examples: Vec<Example>, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<Example> {
        match self.mask_id {
            Some(mask) => {
                let vocab = self.model.config.vocab_size as u32;
                examples.iter().map(|e| mlm::corrupt(e, mask, vocab, rng)).collect()
            }
            None => examples,
        }
    }

    /// How many shards a batch splits into (they run concurrently): `train.shards`, by default one per CPU
    /// thread on the CPU backends (one on a GPU) but no more than keep the shards' gradient copies (one
    /// per shard, of the `trainable` weights) within 2 GB; never more than one per example.
    fn shard_count(&self, trainable: usize) -> usize {
        let train = &self.recipe.train;
        let cpu = self.recipe.backend.is_cpu();
        let memory_cap = (GRADIENT_COPIES_BYTES / (4 * trainable.max(1))).max(1);
        let auto = if cpu { rayon::current_num_threads().min(memory_cap) } else { 1 };
        train.shards.unwrap_or(auto).clamp(1, train.batch_size)
    }

    /// One optimizer step; returns (loss, grad norm, input tokens).
    ///
    /// The `batch_size x grad_accum` examples are cut into micro-batches, `self.shards` per batch. Micro-batches
    /// are independent terms of one sum (each loss is divided by the window's target count), so on a CPU
    /// they run concurrently, one per thread, each on its own replica of the model (the same parameter
    /// values as separate autodiff leaves, so the graphs never meet); their gradients are added in
    /// micro-batch order. Single-threaded kernels on every core beat every kernel split across cores at
    /// these sizes.
    fn step(&mut self, lr: f64) -> Result<(f64, f64, usize)> {
        let (batch_size, accum) = (self.recipe.train.batch_size, self.recipe.train.grad_accum);
        let shards = self.shards;
        let micro = batch_size.div_ceil(shards);
        let examples = self.next_examples(batch_size * accum);
        let examples = self.masked(examples, &mut mlm::step_rng(self.recipe.seed, self.state.step + 1));
        let bidirectional = self.mask_id.is_some();
        let batches: Vec<Batch> =
            examples.chunks(micro).map(|c| data::collate(c, self.specials.pad, bidirectional, &self.device)).collect();
        let teacher_batches: Vec<Batch> = match &self.teacher {
            Some(t) => examples
                .chunks(micro)
                .map(|c| data::collate(c, self.specials.pad, bidirectional, t.model.device()))
                .collect(),
            None => Vec::new(),
        };
        let total: usize = batches.iter().map(|b| b.n_targets).sum::<usize>().max(1);
        let tokens = batches.iter().map(|b| b.inputs.dims().iter().product::<usize>()).sum();
        let run = |model: &mut Transformer, i: usize| {
            // Adapter dropout masks depend on the seed, the step and the micro-batch only: a resume repeats them.
            model.seed_dropout(self.recipe.seed ^ (self.state.step + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i as u64);
            let teacher = self.teacher.as_ref().zip(teacher_batches.get(i));
            let (sum, _, _) = batch_loss(model, &batches[i], teacher);
            let scaled = sum.div_scalar(total as f64);
            let grads = scaled.backward();
            (f64::from(scaled.into_scalar::<f32>()), optim::gradients(&model.trainable(), &grads))
        };
        let parts: Vec<(f64, Grads)> = if shards == 1 {
            (0..batches.len()).map(|i| run(&mut self.model, i)).collect()
        } else {
            use rayon::prelude::*;
            let model = &self.model;
            (0..batches.len())
                .into_par_iter()
                .map(|i| {
                    let mut replica = model.clone();
                    optim::track(replica.trainable());
                    run(&mut replica, i)
                })
                .collect()
        };
        let mut loss = 0.0;
        let mut params_grads: Option<Grads> = None;
        for (l, g) in parts {
            loss += l;
            params_grads = Some(match params_grads {
                None => g,
                Some(acc) => acc.into_iter().zip(g).map(|(a, b)| a.add(b)).collect(),
            });
        }
        if !loss.is_finite() {
            return Err(TrainError::Diverged { step: self.state.step + 1, value: loss, run: self.dir.clone() });
        }
        let grads = params_grads.expect("at least one micro-batch");
        let norm = optim::global_norm(&grads);
        let clip = self.recipe.optimizer.grad_clip;
        let scale = if clip > 0.0 && norm > clip { clip / (norm + 1e-6) } else { 1.0 };
        self.opt.step(self.model.trainable(), grads, lr, scale);
        Ok((loss, norm, tokens))
    }

    /// Validation loss (per target token, or per example) and, for classification, the class report.
    fn evaluate(&mut self) -> (f64, Option<ClassReport>) {
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
    fn generation_score(&self) -> Result<Option<f64>> {
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

    /// Writes `RUN/name/`: an HF model directory, or under LoRA a PEFT adapter directory.
    fn save_model(&mut self, name: &str) -> Result<PathBuf> {
        let mut model = self.model.inference();
        let out = self.dir.join(name);
        match &self.recipe.model.from {
            Some(base) if model.lora.is_some() => {
                slm_model::io::peft::save_adapter(&mut model, &out, base, &self.tokenizer_dir, true)?;
            }
            _ => slm_model::io::hf::save_pretrained(&mut model, &out, &self.tokenizer_dir, true)?,
        }
        Ok(out)
    }

    fn fit(&mut self, opts: &RunOptions, obs: &mut dyn Observer) -> Result<Summary> {
        optim::track(self.model.trainable());
        let parameters = self.model.num_params();
        let trainable_parameters: usize = self.model.trainable().iter().map(slm_model::nn::ParamMut::numel).sum();
        self.shards = self.shard_count(trainable_parameters);
        let total = self.schedule.total;
        let resumed_at = opts.resume.then_some(self.state.step);
        let mut metrics = Metrics::open(&self.dir, resumed_at)?;
        let started = Instant::now();
        let elapsed_before = self.state.elapsed_s;
        let elapsed = |s: &Instant| elapsed_before + s.elapsed().as_secs_f64();
        obs.start(self.state.step, total);
        let trained = if trainable_parameters < parameters {
            format!(
                " ({trainable_parameters} trainable, {:.2}%)",
                100.0 * trainable_parameters as f64 / parameters as f64
            )
        } else {
            String::new()
        };
        obs.note(&format!(
            "{parameters} parameters{trained}, {} training and {} validation items, {total} steps",
            self.train.len(),
            self.val.len()
        ));
        let (mut losses, mut val_loss, mut tokens_seen) = (Vec::new(), None, 0usize);
        let stop = opts.stop_after.unwrap_or(u64::MAX).min(total);
        let mut early_stop = false;
        while self.state.step < stop && !early_stop {
            let step = self.state.step + 1;
            let lr = self.schedule.lr(step);
            let t0 = Instant::now();
            let (loss, grad_norm, tokens) = self.step(lr)?;
            self.state.step = step;
            tokens_seen += tokens;
            losses.push(loss);
            let tokens_per_s = tokens as f64 / t0.elapsed().as_secs_f64();
            let log = StepLog { step, total, epoch: self.epochs_done(), loss, lr, grad_norm, tokens_per_s };
            obs.step(&log);
            if step.is_multiple_of(self.recipe.train.log_every) || step == 1 || step == total {
                metrics.write(&Row {
                    step,
                    epoch: log.epoch,
                    split: "train",
                    loss,
                    lr: Some(lr),
                    grad_norm: Some(grad_norm),
                    tokens_per_s: Some(tokens_per_s),
                    elapsed_s: elapsed(&started),
                    ..Row::default()
                })?;
            }
            if step.is_multiple_of(self.recipe.eval.every) || step == total {
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
                let score = match self.recipe.eval.metric.as_str() {
                    "rouge_l" => rouge_l.unwrap_or(0.0),
                    "accuracy" => accuracy.unwrap_or(0.0),
                    _ => -loss,
                };
                let best = self.state.best_val.is_none_or(|b| score > b);
                if best {
                    self.state.best_val = Some(score);
                    self.state.stale_evals = 0;
                    self.save_model("best")?;
                } else {
                    self.state.stale_evals += 1;
                }
                val_loss = Some(loss);
                obs.eval(&EvalLog { step, loss, accuracy, rouge_l, best });
                metrics.write(&Row {
                    step,
                    epoch: self.epochs_done(),
                    split: "val",
                    loss,
                    elapsed_s: elapsed(&started),
                    accuracy,
                    macro_f1: report.as_ref().map(|r| r.macro_f1),
                    rouge_l,
                    ..Row::default()
                })?;
                if self.recipe.eval.patience.is_some_and(|p| self.state.stale_evals >= p) {
                    obs.note(&format!(
                        "early stopping at step {step}: no better {} in {} evaluations",
                        self.recipe.eval.metric, self.state.stale_evals
                    ));
                    early_stop = true;
                }
            }
            if step.is_multiple_of(self.recipe.checkpoint.every) || step == stop || early_stop {
                self.state.elapsed_s = elapsed(&started);
                let base = self.recipe.model.from.as_deref();
                checkpoint::save(
                    &self.dir,
                    &mut self.model,
                    base,
                    &self.opt,
                    &self.state,
                    self.recipe.checkpoint.keep,
                )?;
            }
        }
        let finished = self.state.step >= total || early_stop;
        let final_model = if finished { Some(self.save_model("final")?) } else { None };
        Ok(Summary {
            run: self.dir.clone(),
            steps: self.state.step,
            losses,
            val_loss,
            best_metric: self.state.best_val,
            parameters,
            trainable_parameters,
            tokens_per_s: tokens_seen as f64 / started.elapsed().as_secs_f64().max(1e-9),
            final_model,
        })
    }
}
