//! The training loop, shaped like nanoGPT's `train.py`: prepare the run (`prepare.rs`), then for every
//! optimizer step gather `batch_size x grad_accum` examples, accumulate gradients of the loss (`loss.rs`)
//! normalised over all target tokens of the window, clip by the global norm, update with AdamW at the
//! schedule's rate; evaluate (`evaluate.rs`), checkpoint and log on the way; write `final/` (and `best/`)
//! as HF model directories.

mod evaluate;
mod loss;
mod prepare;
mod run_dir;

use std::path::PathBuf;
use std::time::Instant;

use burn::prelude::*;
use slm_model::Transformer;
use tokenizers::Tokenizer;

pub use crate::observer::{EvalLog, Observer, Silent, StepLog};

use self::loss::batch_loss;
use crate::checkpoint::{self, State};
use crate::data::{self, Batch, Dataset, Example, Specials};
use crate::distill::Teacher;
use crate::error::{Result, TrainError};
use crate::metrics::{Metrics, Row};
use crate::mlm;
use crate::optim::{self, AdamW, Grads};
use crate::recipe::Recipe;
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
    let mut run = prepare::prepare(recipe, opts, obs).inspect_err(|_| {
        // A run that could not even start leaves nothing behind.
        if fresh {
            let _ = std::fs::remove_dir_all(&recipe.out);
        }
    })?;
    run.fit(opts, obs)
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
            return Err(TrainError::Diverged {
                what: "loss",
                step: self.state.step + 1,
                value: loss,
                run: self.dir.clone(),
            });
        }
        let grads = params_grads.expect("at least one micro-batch");
        let norm = optim::global_norm(&grads);
        if !norm.is_finite() {
            // A finite loss with an overflowing gradient would write NaN into every weight.
            let (what, step, run) = ("gradient norm", self.state.step + 1, self.dir.clone());
            return Err(TrainError::Diverged { what, step, value: norm, run });
        }
        let clip = self.recipe.optimizer.grad_clip;
        let scale = if clip > 0.0 && norm > clip { clip / (norm + 1e-6) } else { 1.0 };
        self.opt.step(self.model.trainable(), grads, lr, scale);
        Ok((loss, norm, tokens))
    }

    /// Writes `RUN/name/`: an HF model directory, or under LoRA a PEFT adapter directory.
    fn save_model(&mut self, name: &str) -> Result<PathBuf> {
        let mut model = self.model.inference();
        let out = self.dir.join(name);
        match &self.recipe.model.from {
            Some(base) if model.lora.is_some() => {
                slm_model::io::peft::save_adapter(&mut model, &out, base, &self.tokenizer_dir, true)?;
            }
            _ => slm_model::io::hf::save_pretrained(&mut model, &out, &self.tokenizer_dir, Default::default(), true)?,
        }
        Ok(out)
    }

    fn fit(&mut self, opts: &RunOptions, obs: &mut dyn Observer) -> Result<Summary> {
        optim::track(self.model.trainable());
        let parameters = self.model.num_params();
        let trainable_parameters: usize = self.model.trainable().iter().map(slm_model::nn::ParamMut::numel).sum();
        let chosen = self.shard_count(trainable_parameters);
        self.shards = match self.state.shards {
            // The default follows the CPU threads; a resumed run keeps the count it began with.
            Some(recorded) if self.recipe.train.shards.is_none() => recorded,
            Some(recorded) if recorded != chosen => {
                obs.note(&format!(
                    "train.shards is {chosen} but the run began with {recorded}: losses continue to about 1e-5, \
                     not bit for bit"
                ));
                chosen
            }
            _ => chosen,
        };
        self.state.shards = Some(self.shards);
        let total = self.schedule.total;
        let mut metrics = Metrics::open(&self.dir, opts.resume.then_some(self.state.step))?;
        let clock = Clock { started: Instant::now(), before: self.state.elapsed_s };
        obs.start(self.state.step, total);
        obs.note(&self.describe(parameters, trainable_parameters));
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
                metrics.write(&Row::train(&log, clock.elapsed()))?;
            }
            if step.is_multiple_of(self.recipe.eval.every) || step == total {
                let (loss, stop_early) = self.evaluate_and_keep_best(step, &mut metrics, &clock, obs)?;
                val_loss = Some(loss);
                early_stop = stop_early;
            }
            if step.is_multiple_of(self.recipe.checkpoint.every) || step == stop || early_stop {
                self.state.elapsed_s = clock.elapsed();
                let (base, keep) = (self.recipe.model.from.as_deref(), self.recipe.checkpoint.keep);
                checkpoint::save(&self.dir, &mut self.model, base, &self.opt, &self.state, keep)?;
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
            tokens_per_s: tokens_seen as f64 / clock.started.elapsed().as_secs_f64().max(1e-9),
            final_model,
        })
    }

    /// The opening line: parameters (trainable ones under LoRA), items and steps.
    fn describe(&self, parameters: usize, trainable: usize) -> String {
        let trained = if trainable < parameters {
            format!(" ({trainable} trainable, {:.2}%)", 100.0 * trainable as f64 / parameters as f64)
        } else {
            String::new()
        };
        format!(
            "{parameters} parameters{trained}, {} training and {} validation items, {} steps",
            self.train.len(),
            self.val.len(),
            self.schedule.total
        )
    }
}

/// Wall time of a run, including what the runs it resumes spent.
struct Clock {
    started: Instant,
    /// Seconds spent before this process (from the checkpoint).
    before: f64,
}

impl Clock {
    fn elapsed(&self) -> f64 {
        self.before + self.started.elapsed().as_secs_f64()
    }
}
