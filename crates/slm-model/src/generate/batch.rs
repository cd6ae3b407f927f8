//! Continuous batching: many generations advance together, one token each per forward pass, and join or
//! leave the batch at any token boundary. Joining prompts are prefilled together in one left-padded pass
//! (the LM head runs only at each prompt's last token); their keys and values are left-padded to the
//! batch's cache length, and a mask hides the padding from attention while explicit positions keep every
//! row's own numbering. A finished (or cancelled) row leaves at once and the cache positions no remaining
//! row uses are dropped.
//!
//! Each row has its own request: token limit, stop strings, [`Sampler`] (seeded like a single generation,
//! so the tokens are those of [`Generator::generate`] for the same prompt, up to float rounding between
//! batched and single matmuls) and, when asked, log-probabilities. [`Generator::generate_batched`] drives a
//! [`Batch`] over a list of prompts; `slm serve` drives one from a queue of HTTP requests.

use burn::prelude::*;

use super::sampling::{Sampler, SamplingOptions};
use super::text_stream::TextStream;
use super::{GenerateOptions, Generator};
use crate::error::{ModelError, Result};
use crate::transformer::{KvCache, TokenLayout};

/// One generation to run in a [`Batch`].
#[derive(Debug, Clone)]
pub struct Request {
    /// The prompt's token ids (non-empty, shorter than the model's context).
    pub prompt: Vec<u32>,
    /// Most tokens to add.
    pub max_new_tokens: usize,
    /// How each token is chosen.
    pub sampling: SamplingOptions,
    /// The generation ends before the first of these in its text.
    pub stop: Vec<String>,
    /// Report each token's log-probability and this many most likely alternatives.
    pub logprobs: Option<usize>,
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The model's end-of-turn token or a stop string.
    Stop,
    /// The token limit, or the model's context is full.
    Length,
}

/// A generated token with, when asked, its log-probability (log-softmax of the model's raw logits).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenOut {
    /// The token id.
    pub id: u32,
    /// The text this token added (pieces join to the whole text).
    pub text: String,
    /// Its log-probability and the most likely alternatives, when asked for.
    pub logprob: Option<Logprob>,
}

/// A token's log-probability with the most likely tokens at its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Logprob {
    /// `ln p(token)`.
    pub value: f32,
    /// The most likely tokens `(id, text, ln p)`, best first.
    pub top: Vec<(u32, String, f32)>,
}

/// What one row produced in one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Update<K> {
    /// The caller's key of the row.
    pub key: K,
    /// Text that became final (stop strings and incomplete characters held back until resolved).
    pub delta: String,
    /// The token picked in this step (none when the step ended the row with an end-of-turn token).
    pub token: Option<TokenOut>,
    /// Set when the row is finished (it has left the batch).
    pub finish: Option<Finish>,
    /// Tokens generated so far.
    pub generated: usize,
}

/// One sequence in the batch.
struct Row<K> {
    key: K,
    all: Vec<u32>,
    prompt_len: usize,
    new: Vec<u32>,
    sampler: Sampler,
    text: TextStream,
    max_new_tokens: usize,
    logprobs: Option<usize>,
    /// Which cache positions belong to this row (false: left padding).
    valid: Vec<bool>,
    done: bool,
}

/// Generations running together over one model; see the module documentation.
pub struct Batch<'g, K> {
    generator: &'g Generator,
    rows: Vec<Row<K>>,
    cache: KvCache,
}

impl<'g, K: Clone + PartialEq> Batch<'g, K> {
    /// An empty batch over `generator`'s model.
    pub fn new(generator: &'g Generator) -> Batch<'g, K> {
        Batch { generator, rows: Vec::new(), cache: KvCache::default() }
    }

    /// Rows running.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row is running.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Checks that `request` can run: a non-empty prompt shorter than the model's context.
    ///
    /// # Errors
    /// The prompt is empty or fills the context.
    pub fn check(generator: &Generator, request: &Request) -> Result<()> {
        let context = generator.model.config.max_positions;
        if request.prompt.is_empty() || request.prompt.len() >= context {
            return Err(ModelError::format(
                "prompt",
                format!("the prompt has {} tokens; the model's context is {context}", request.prompt.len()),
            ));
        }
        Ok(())
    }

    /// Prefills `requests` together, adds them to the batch and reports their first tokens.
    ///
    /// # Errors
    /// A request [`Batch::check`] refuses (then none joins).
    pub fn admit(&mut self, requests: Vec<(K, Request)>, out: &mut impl FnMut(Update<K>)) -> Result<()> {
        if requests.is_empty() {
            return Ok(());
        }
        for (_, r) in &requests {
            Batch::<K>::check(self.generator, r)?;
        }
        let was_empty = self.rows.is_empty();
        let joined_cache = self.prefill(&requests, out);
        self.cache =
            if was_empty { joined_cache } else { KvCache::stack(&[std::mem::take(&mut self.cache), joined_cache]) };
        // Right-align every row's validity to the (possibly longer) batch cache.
        let len = self.cache.len();
        for r in &mut self.rows {
            let pad = len - r.valid.len();
            r.valid.splice(0..0, std::iter::repeat_n(false, pad));
        }
        self.retire();
        Ok(())
    }

    /// One decode step: every row gets its next token.
    pub fn step(&mut self, out: &mut impl FnMut(Update<K>)) {
        if self.rows.is_empty() {
            return;
        }
        let device = self.generator.model.device().clone();
        let b = self.rows.len();
        let tokens: Vec<i64> = self.rows.iter().map(|r| i64::from(*r.all.last().expect("non-empty"))).collect();
        let positions: Vec<i64> = self.rows.iter().map(|r| (r.all.len() - 1) as i64).collect();
        let keys = self.cache.len() + 1;
        let mut mask = Vec::with_capacity(b * keys);
        for r in &mut self.rows {
            r.valid.push(true);
            mask.extend(r.valid.iter().map(|v| !v));
        }
        let ctx = TokenLayout {
            positions: Some(Tensor::from_data(TensorData::new(positions, [b, 1]), &device)),
            mask: Some(Tensor::from_data(TensorData::new(mask, [b, 1, 1, keys]), &device)),
        };
        let input = Tensor::<2, Int>::from_data(TensorData::new(tokens, [b, 1]), &device);
        let model = &self.generator.model;
        let logits = model.lm_logits(model.hidden(input, &ctx, &mut self.cache));
        // One read-back for the whole batch.
        let [_, _, vocab] = logits.dims();
        let all: Vec<f32> = logits.into_data().try_to_vec().expect("f32 logits");
        for (r, row_logits) in self.rows.iter_mut().zip(all.chunks_exact(vocab)) {
            out(advance(self.generator, r, row_logits.to_vec()));
        }
        self.retire();
    }

    /// Removes the rows whose key satisfies `drop` (cancelled generations), reporting nothing; returns
    /// how many left.
    pub fn cancel(&mut self, drop: impl Fn(&K) -> bool) -> usize {
        let mut dropped = 0;
        for r in &mut self.rows {
            if !r.done && drop(&r.key) {
                r.done = true;
                dropped += 1;
            }
        }
        self.retire();
        dropped
    }

    /// One left-padded forward pass over `requests`: their rows (first token picked) go into `self.rows`;
    /// returns their cache. Padding keys are masked; a padding query sees only itself (so no softmax row is
    /// empty); real tokens keep positions 0, 1, 2, ...
    fn prefill(&mut self, requests: &[(K, Request)], out: &mut impl FnMut(Update<K>)) -> KvCache {
        let device = self.generator.model.device().clone();
        let (k, len) = (requests.len(), requests.iter().map(|(_, r)| r.prompt.len()).max().unwrap_or(1));
        let (mut tokens, mut positions, mut mask) =
            (Vec::with_capacity(k * len), Vec::with_capacity(k * len), Vec::with_capacity(k * len * len));
        for (_, r) in requests {
            let pad = len - r.prompt.len();
            tokens.extend(std::iter::repeat_n(0i64, pad).chain(r.prompt.iter().map(|&t| i64::from(t))));
            positions.extend((0..len).map(|i| i.saturating_sub(pad) as i64));
            for q in 0..len {
                mask.extend((0..len).map(|key| key < pad && key != q));
            }
        }
        let ctx = TokenLayout {
            positions: Some(Tensor::from_data(TensorData::new(positions, [k, len]), &device)),
            mask: Some(Tensor::from_data(TensorData::new(mask, [k, 1, len, len]), &device)),
        };
        let model = &self.generator.model;
        let mut cache = model.cache();
        let input = Tensor::<2, Int>::from_data(TensorData::new(tokens, [k, len]), &device);
        let hidden = model.hidden(input, &ctx, &mut cache).narrow(1, len - 1, 1);
        let vocab = model.config.vocab_size;
        let logits: Vec<f32> = model.lm_logits(hidden).into_data().try_to_vec().expect("f32 logits");
        for ((key, r), row_logits) in requests.iter().zip(logits.chunks_exact(vocab)) {
            let pad = len - r.prompt.len();
            let mut row = Row {
                key: key.clone(),
                valid: (0..len).map(|i| i >= pad).collect(),
                all: r.prompt.clone(),
                prompt_len: r.prompt.len(),
                new: Vec::new(),
                sampler: Sampler::new(r.sampling.clone()),
                text: TextStream::new(r.stop.clone()),
                max_new_tokens: r.max_new_tokens,
                logprobs: r.logprobs,
                done: false,
            };
            out(advance(self.generator, &mut row, row_logits.to_vec()));
            self.rows.push(row);
        }
        cache
    }

    /// Removes finished rows and trims cache positions no remaining row uses.
    fn retire(&mut self) {
        if self.rows.iter().all(|r| !r.done) {
            return;
        }
        let keep: Vec<usize> = (0..self.rows.len()).filter(|&i| !self.rows[i].done).collect();
        self.rows.retain(|r| !r.done);
        if self.rows.is_empty() {
            self.cache = KvCache::default();
            return;
        }
        self.cache.select_rows(&keep);
        let unused = self.rows.iter().map(|r| r.valid.iter().take_while(|v| !**v).count()).min().unwrap_or(0);
        self.cache.drop_front(unused);
        for r in &mut self.rows {
            r.valid.drain(..unused);
        }
    }
}

/// Picks a row's next token from its logits and reports it; marks the row done when it ends (end-of-turn
/// token, token limit, stop string, full context).
fn advance<K: Clone>(generator: &Generator, row: &mut Row<K>, logits: Vec<f32>) -> Update<K> {
    let context = generator.model.config.max_positions;
    let scored = row.logprobs.map(|top| log_softmax_top(&logits, top));
    let next = row.sampler.pick(logits, &row.all, row.prompt_len);
    let mut update = Update { key: row.key.clone(), delta: String::new(), token: None, finish: None, generated: 0 };
    if generator.stop.contains(&next) {
        row.done = true;
        update.delta = row.text.finish(&generator.decode(&row.new).unwrap_or_default());
        update.finish = Some(Finish::Stop);
        update.generated = row.new.len();
        return update;
    }
    row.new.push(next);
    row.all.push(next);
    let text = generator.decode(&row.new).unwrap_or_default();
    let step = row.text.advance(&text);
    let logprob = scored.map(|(logprobs, top)| {
        let top = top.into_iter().map(|(id, lp)| (id, generator.decode(&[id]).unwrap_or_default(), lp)).collect();
        Logprob { value: logprobs[next as usize], top }
    });
    update.token = Some(TokenOut { id: next, text: step.piece, logprob });
    update.delta = step.delta;
    update.generated = row.new.len();
    if step.stopped {
        update.finish = Some(Finish::Stop);
    } else if row.new.len() >= row.max_new_tokens || row.all.len() >= context {
        update.delta.push_str(&row.text.finish(&text));
        update.finish = Some(Finish::Length);
    }
    row.done = update.finish.is_some();
    update
}

/// The log-softmax of `logits` and its `top` largest entries `(id, value)`, largest first.
fn log_softmax_top(logits: &[f32], top: usize) -> (Vec<f32>, Vec<(u32, f32)>) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let total: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    let log_total = max + total.ln() as f32;
    let logprobs: Vec<f32> = logits.iter().map(|&l| l - log_total).collect();
    let mut order: Vec<u32> = (0..logprobs.len() as u32).collect();
    let top = top.min(order.len());
    if top > 0 {
        order.select_nth_unstable_by(top - 1, |&a, &b| logprobs[b as usize].total_cmp(&logprobs[a as usize]));
    }
    order.truncate(top);
    order.sort_by(|&a, &b| logprobs[b as usize].total_cmp(&logprobs[a as usize]).then(a.cmp(&b)));
    let best = order.iter().map(|&id| (id, logprobs[id as usize])).collect();
    (logprobs, best)
}

/// What one prompt produced.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOutput {
    /// Index of the prompt in the input.
    pub id: usize,
    /// The new text (stop strings cut off).
    pub text: String,
    /// The new token ids.
    pub tokens: Vec<u32>,
}

impl Generator {
    /// Generates after every prompt (already templated) with at most `width` sequences in flight;
    /// `on_done` receives each result as soon as it is finished (not in input order).
    ///
    /// # Errors
    /// An empty prompt, or one that fills the model's context.
    pub fn generate_batched(
        &self,
        prompts: &[String],
        opts: &GenerateOptions,
        width: usize,
        mut on_done: impl FnMut(BatchOutput),
    ) -> Result<()> {
        let mut waiting = prompts.iter().enumerate();
        let mut batch = Batch::new(self);
        let mut partial: Vec<(String, Vec<u32>)> = vec![Default::default(); prompts.len()];
        let mut collect = |u: Update<usize>| {
            let (text, tokens) = &mut partial[u.key];
            text.push_str(&u.delta);
            tokens.extend(u.token.map(|t| t.id));
            if u.finish.is_some() {
                let (text, tokens) = std::mem::take(&mut partial[u.key]);
                on_done(BatchOutput { id: u.key, text, tokens });
            }
        };
        loop {
            let mut joining = Vec::new();
            while batch.len() + joining.len() < width.max(1) {
                let Some((id, prompt)) = waiting.next() else { break };
                let request = Request {
                    prompt: self.encode(prompt)?,
                    max_new_tokens: opts.max_new_tokens,
                    sampling: opts.sampling.clone(),
                    stop: opts.stop.clone(),
                    logprobs: None,
                };
                if Batch::<usize>::check(self, &request).is_err() {
                    let (n, context) = (request.prompt.len(), self.model.config.max_positions);
                    let problem = format!("prompt {} has {n} tokens; the model's context is {context}", id + 1);
                    return Err(ModelError::format("prompt", problem));
                }
                joining.push((id, request));
            }
            if joining.is_empty() && batch.is_empty() {
                return Ok(());
            }
            batch.admit(joining, &mut collect)?;
            batch.step(&mut collect);
        }
    }
}
