//! Dynamic batching for generating from many prompts: up to `width` sequences decode together, one token
//! each per forward pass. The prompts that fill free slots are prefilled together in one left-padded pass
//! (the LM head runs only at each prompt's last token), then join the batch; their keys and values are
//! left-padded to the batch's cache length, and a mask hides the padding from attention while explicit
//! positions keep every row's own numbering. A finished row leaves the batch at once and the next waiting
//! prompt takes its place, so the batch stays full until the prompts run out.
//!
//! Each row samples with its own [`Sampler`] seeded like a single generation, so the tokens are those of
//! [`Generator::generate`] for the same prompt (up to float rounding between batched and single matmuls).

use burn::prelude::*;

use super::sampling::Sampler;
use super::{GenerateOptions, Generator};
use crate::error::{ModelError, Result};
use crate::transformer::{KvCache, TokenLayout};

/// One sequence in the batch.
struct Row {
    id: usize,
    all: Vec<u32>,
    new: Vec<u32>,
    sampler: Sampler,
    /// Which cache positions belong to this row (false: left padding).
    valid: Vec<bool>,
    done: bool,
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
        let context = self.model.config.max_positions;
        let device = self.model.device().clone();
        let mut waiting = prompts.iter().enumerate();
        let mut rows: Vec<Row> = Vec::new();
        let mut cache = KvCache::default();
        loop {
            // Refill: prefill the waiting prompts that fit into free slots, together.
            let mut joining = Vec::new();
            while rows.len() + joining.len() < width.max(1) {
                let Some((id, prompt)) = waiting.next() else { break };
                let ids = self.encode(prompt)?;
                if ids.is_empty() || ids.len() >= context {
                    return Err(ModelError::format(
                        "prompt",
                        format!("prompt {} has {} tokens; the model's context is {context}", id + 1, ids.len()),
                    ));
                }
                joining.push((id, ids));
            }
            if !joining.is_empty() {
                let (joined, joined_cache) = self.prefill(&joining, opts, context, &device);
                cache = if rows.is_empty() { joined_cache } else { KvCache::stack(&[cache, joined_cache]) };
                rows.extend(joined);
            }
            // Right-align every row's validity to the (possibly longer) batch cache.
            let len = cache.len();
            for r in &mut rows {
                let pad = len - r.valid.len();
                r.valid.splice(0..0, std::iter::repeat_n(false, pad));
            }
            // Rows finished by their first token leave at once.
            self.retire(&mut rows, &mut cache, &opts.stop, &mut on_done)?;
            if rows.is_empty() {
                if waiting.len() == 0 {
                    return Ok(());
                }
                continue;
            }
            // One decode step for the whole batch.
            let b = rows.len();
            let tokens: Vec<i64> = rows.iter().map(|r| i64::from(*r.all.last().expect("non-empty"))).collect();
            let positions: Vec<i64> = rows.iter().map(|r| (r.all.len() - 1) as i64).collect();
            let keys = cache.len() + 1;
            let mut mask = Vec::with_capacity(b * keys);
            for r in &mut rows {
                r.valid.push(true);
                mask.extend(r.valid.iter().map(|v| !v));
            }
            let ctx = TokenLayout {
                positions: Some(Tensor::from_data(TensorData::new(positions, [b, 1]), &device)),
                mask: Some(Tensor::from_data(TensorData::new(mask, [b, 1, 1, keys]), &device)),
            };
            let input = Tensor::<2, Int>::from_data(TensorData::new(tokens, [b, 1]), &device);
            let logits = self.model.lm_logits(self.model.hidden(input, &ctx, &mut cache));
            // One read-back for the whole batch.
            let [_, _, vocab] = logits.dims();
            let all: Vec<f32> = logits.into_data().try_to_vec().expect("f32 logits");
            for (r, row_logits) in rows.iter_mut().zip(all.chunks_exact(vocab)) {
                self.advance(r, row_logits.to_vec(), opts, context);
            }
            self.retire(&mut rows, &mut cache, &opts.stop, &mut on_done)?;
        }
    }

    /// One left-padded forward pass over `prompts` (id, tokens): their rows, each with its first new token
    /// picked, and their cache. Padding keys are masked; a padding query sees only itself (so no softmax
    /// row is empty); real tokens keep positions 0, 1, 2, ...
    fn prefill(
        &self,
        prompts: &[(usize, Vec<u32>)],
        opts: &GenerateOptions,
        context: usize,
        device: &Device,
    ) -> (Vec<Row>, KvCache) {
        let (k, len) = (prompts.len(), prompts.iter().map(|(_, ids)| ids.len()).max().unwrap_or(1));
        let (mut tokens, mut positions, mut mask) =
            (Vec::with_capacity(k * len), Vec::with_capacity(k * len), Vec::with_capacity(k * len * len));
        for (_, ids) in prompts {
            let pad = len - ids.len();
            tokens.extend(std::iter::repeat_n(0i64, pad).chain(ids.iter().map(|&t| i64::from(t))));
            positions.extend((0..len).map(|i| i.saturating_sub(pad) as i64));
            for q in 0..len {
                mask.extend((0..len).map(|key| key < pad && key != q));
            }
        }
        let ctx = TokenLayout {
            positions: Some(Tensor::from_data(TensorData::new(positions, [k, len]), device)),
            mask: Some(Tensor::from_data(TensorData::new(mask, [k, 1, len, len]), device)),
        };
        let mut cache = self.model.cache();
        let input = Tensor::<2, Int>::from_data(TensorData::new(tokens, [k, len]), device);
        let hidden = self.model.hidden(input, &ctx, &mut cache).narrow(1, len - 1, 1);
        let vocab = self.model.config.vocab_size;
        let logits: Vec<f32> = self.model.lm_logits(hidden).into_data().try_to_vec().expect("f32 logits");
        let rows = prompts
            .iter()
            .zip(logits.chunks_exact(vocab))
            .map(|((id, ids), row_logits)| {
                let pad = len - ids.len();
                let mut row = Row {
                    id: *id,
                    valid: (0..len).map(|i| i >= pad).collect(),
                    all: ids.clone(),
                    new: Vec::new(),
                    sampler: Sampler::new(opts.sampling.clone()),
                    done: false,
                };
                self.advance(&mut row, row_logits.to_vec(), opts, context);
                row
            })
            .collect();
        (rows, cache)
    }

    /// Picks a row's next token, or marks it done (stop token, length, stop string, full context).
    fn advance(&self, row: &mut Row, logits: Vec<f32>, opts: &GenerateOptions, context: usize) {
        let next = row.sampler.pick(logits, &row.all);
        if self.stop.contains(&next) {
            row.done = true;
            return;
        }
        row.new.push(next);
        row.all.push(next);
        let hit_stop = self.hits_stop(&row.new, &opts.stop);
        row.done = hit_stop || row.new.len() >= opts.max_new_tokens || row.all.len() >= context;
    }

    /// Removes finished rows (reporting them) and trims cache positions no remaining row uses.
    fn retire(
        &self,
        rows: &mut Vec<Row>,
        cache: &mut KvCache,
        stop: &[String],
        on_done: &mut impl FnMut(BatchOutput),
    ) -> Result<()> {
        if rows.iter().all(|r| !r.done) {
            return Ok(());
        }
        let keep: Vec<usize> = (0..rows.len()).filter(|&i| !rows[i].done).collect();
        for r in rows.iter().filter(|r| r.done) {
            let text = self.text_before_stop(&r.new, stop)?;
            on_done(BatchOutput { id: r.id, text, tokens: r.new.clone() });
        }
        rows.retain(|r| !r.done);
        if rows.is_empty() {
            *cache = KvCache::default();
            return Ok(());
        }
        cache.select_rows(&keep);
        let unused = rows.iter().map(|r| r.valid.iter().take_while(|v| !**v).count()).min().unwrap_or(0);
        cache.drop_front(unused);
        for r in rows.iter_mut() {
            r.valid.drain(..unused);
        }
        Ok(())
    }
}
