//! The engine: one thread that owns the models and runs a [`Batch`] per model. Requests arrive on a
//! channel as [`Job`]s (one row per choice); each loop turn takes the new jobs, drops the rows whose client
//! has gone (its update channel is closed), admits waiting rows into free batch slots (prefilled together)
//! and advances every batch by one token. Updates go back to each job's channel as they happen.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;

use slm_model::Backend;
use slm_model::generate::Generator;
use slm_model::generate::batch::{Batch, Request, Update};
use slm_model::generate::chat::ChatTemplate;
use tokenizers::Tokenizer;
use tokio::sync::mpsc::UnboundedSender;

use crate::metrics::Metrics;

/// Which row of which job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    job: u64,
    /// The choice's index in its job.
    pub choice: usize,
}

/// An update for one choice of a job.
pub type ChoiceUpdate = Update<Key>;

/// A request from the HTTP side: rows to generate on one model.
pub struct Job {
    /// Index of the model (base first, then the adapters in their order).
    pub model: usize,
    /// One row per choice.
    pub rows: Vec<Request>,
    /// Where the updates go; closing it cancels the job.
    pub updates: UnboundedSender<ChoiceUpdate>,
}

/// What the HTTP side needs to know of a loaded model.
#[derive(Clone)]
pub struct ModelInfo {
    /// The name requests use in `model`.
    pub name: String,
    /// Its tokenizer (for prompts, `/tokenize` and `/detokenize`).
    pub tokenizer: Tokenizer,
    /// Its chat template, if any.
    pub template: Option<ChatTemplate>,
    /// Its context length in tokens.
    pub context: usize,
}

/// Loads every `(name, dir)` model on `backend`, reports them (or the first error) through `loaded`, then
/// serves jobs from `jobs` until that channel closes and no work is left.
pub fn run(
    models: Vec<(String, PathBuf)>,
    backend: Backend,
    max_batch: usize,
    jobs: Receiver<Job>,
    metrics: Arc<Metrics>,
    loaded: tokio::sync::oneshot::Sender<Result<Vec<ModelInfo>, String>>,
) {
    let generators = match load(&models, backend) {
        Ok(g) => g,
        Err(e) => {
            let _ = loaded.send(Err(e));
            return;
        }
    };
    let infos = generators
        .iter()
        .zip(&models)
        .map(|(g, (name, _))| ModelInfo {
            name: name.clone(),
            tokenizer: g.tokenizer().clone(),
            template: g.chat_template().cloned(),
            context: g.model.config.max_positions,
        })
        .collect();
    if loaded.send(Ok(infos)).is_err() {
        return;
    }
    let mut batches: Vec<Batch<'_, Key>> = generators.iter().map(Batch::new).collect();
    let mut waiting: Vec<VecDeque<(Key, Request)>> = vec![VecDeque::new(); generators.len()];
    let mut sinks: HashMap<u64, (UnboundedSender<ChoiceUpdate>, usize)> = HashMap::new();
    let mut next_job = 0u64;
    loop {
        let idle = batches.iter().all(Batch::is_empty) && waiting.iter().all(VecDeque::is_empty);
        let mut incoming = Vec::new();
        if idle {
            match jobs.recv() {
                Ok(job) => incoming.push(job),
                Err(_) => return,
            }
        }
        // A closed channel (the server is draining) still leaves the running rows to finish.
        while let Ok(job) = jobs.try_recv() {
            incoming.push(job);
        }
        for job in incoming {
            let id = next_job;
            next_job += 1;
            sinks.insert(id, (job.updates, job.rows.len()));
            waiting[job.model].extend(job.rows.into_iter().enumerate().map(|(choice, r)| (Key { job: id, choice }, r)));
        }
        // Clients that went away: their rows leave now.
        let gone: Vec<u64> = sinks.iter().filter(|(_, (tx, _))| tx.is_closed()).map(|(id, _)| *id).collect();
        if !gone.is_empty() {
            for id in &gone {
                sinks.remove(id);
            }
            for b in &mut batches {
                let dropped = b.cancel(|k| gone.contains(&k.job));
                metrics.cancelled.fetch_add(dropped, Ordering::Relaxed);
            }
            for w in &mut waiting {
                let before = w.len();
                w.retain(|(k, _)| !gone.contains(&k.job));
                metrics.queued.fetch_sub(before - w.len(), Ordering::Relaxed);
                metrics.cancelled.fetch_add(before - w.len(), Ordering::Relaxed);
            }
        }
        let mut send = |u: ChoiceUpdate| {
            let (job, done) = (u.key.job, u.finish.is_some());
            let Some((tx, left)) = sinks.get_mut(&job) else { return };
            let _ = tx.send(u);
            if done {
                *left -= 1;
                if *left == 0 {
                    sinks.remove(&job);
                }
            }
        };
        for (batch, queue) in batches.iter_mut().zip(&mut waiting) {
            let free = max_batch.saturating_sub(batch.len()).min(queue.len());
            let joining: Vec<(Key, Request)> = queue.drain(..free).collect();
            metrics.queued.fetch_sub(joining.len(), Ordering::Relaxed);
            if let Err(e) = batch.admit(joining, &mut send) {
                // The HTTP side checks every prompt first; this is a bug, not bad input.
                eprintln!("slm serve: a request could not join the batch: {e}");
            }
        }
        let running: usize = batches.iter().map(Batch::len).sum();
        metrics.batch_size.store(running, Ordering::Relaxed);
        metrics.batch_size_max.fetch_max(running, Ordering::Relaxed);
        for batch in &mut batches {
            batch.step(&mut send);
        }
        metrics.batch_size.store(batches.iter().map(Batch::len).sum(), Ordering::Relaxed);
        metrics.batch_steps.fetch_add(1, Ordering::Relaxed);
    }
}

fn load(models: &[(String, PathBuf)], backend: Backend) -> Result<Vec<Generator>, String> {
    let device = backend.device().map_err(|e| e.to_string())?;
    models.iter().map(|(_, dir)| Generator::load(dir, &device).map_err(|e| e.to_string())).collect()
}
