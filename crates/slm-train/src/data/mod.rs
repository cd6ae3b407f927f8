//! Training data: records turned into token sequences with a loss mask, the per-epoch order, and batches
//! as tensors.
//!
//! - Text (pretraining): documents are concatenated with EOS after each and cut into blocks of
//!   `max_length + 1` tokens (inputs and shifted targets). Each epoch starts the blocks at another offset
//!   and visits them in another order, both from the seed. Where a block holds several documents,
//!   positions restart at 0 and attention stops at the boundary.
//! - Fine-tuning (prompt/completion, Alpaca): prompt ++ completion ++ EOS; the loss covers the completion
//!   and the EOS (so the model learns to stop), never the padding.
//! - Classification: the text and one label per record.
//! - Chat: a conversation rendered with the model's chat template; the loss covers the assistant turns.
//!
//! `records.rs` reads typed records, `split.rs` splits them as `slm split` does, `build.rs` turns them
//! into examples, `collate.rs` pads examples into batches.

mod build;
mod collate;
mod records;
mod split;

use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tokenizers::Tokenizer;

pub use build::{build, completion_example};
pub use collate::{Batch, collate};
pub use records::{Record, Records, alpaca_prompt, read_records};
pub use split::{Split, split};

use crate::error::{Result, TrainError};

/// One sequence: `tokens[i + 1]` is the target at position `i` where `weight[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Input tokens followed by the last target (length n + 1).
    pub tokens: Vec<u32>,
    /// Whether the target at each of the n positions counts in the loss.
    pub weight: Vec<bool>,
    /// Document of each of the n input positions (packed text only).
    pub docs: Option<Vec<u32>>,
    /// Class of a classification example.
    pub label: Option<u32>,
    /// Masked LM: the target of each of the n positions (not shifted); `None`: next-token targets.
    pub targets: Option<Vec<u32>>,
}

/// A dataset of one split.
pub enum Dataset {
    /// One token stream cut into blocks.
    Stream {
        /// Tokens of all documents, EOS after each.
        tokens: Vec<u32>,
        /// Document index of each token.
        docs: Vec<u32>,
        /// Inputs per block.
        block: usize,
    },
    /// Separate examples.
    Examples(Vec<Example>),
}

impl Dataset {
    /// Items per epoch.
    pub fn len(&self) -> usize {
        match self {
            // As many windows as whole blocks fit in the stream.
            Dataset::Stream { tokens, block, .. } => tokens.len().saturating_sub(*block) / block,
            Dataset::Examples(e) => e.len(),
        }
    }

    /// Whether there is nothing to train on.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Item `item` of an epoch plan: the block starting at token `item` of a stream, or example `item`.
    pub fn get(&self, item: usize) -> Example {
        match self {
            Dataset::Stream { tokens, docs, block } => {
                let d = &docs[item..item + block];
                let packed = d.first() != d.last();
                Example {
                    tokens: tokens[item..=item + block].to_vec(),
                    weight: vec![true; *block],
                    docs: packed.then(|| d.to_vec()),
                    label: None,
                    targets: None,
                }
            }
            Dataset::Examples(e) => e[item].clone(),
        }
    }

    /// The items of epoch `epoch`, a pure function of seed and epoch. Shuffled: a stream yields `len()`
    /// windows at uniformly random starts (nanoGPT's sampling), examples come in a random permutation.
    /// In order: consecutive blocks from token 0, examples in file order.
    pub fn epoch_plan(&self, seed: u64, epoch: u64, shuffle: bool) -> Vec<usize> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        match self {
            Dataset::Stream { tokens, block, .. } if shuffle => {
                (0..self.len()).map(|_| rand::RngExt::random_range(&mut rng, 0..tokens.len() - block)).collect()
            }
            Dataset::Stream { block, .. } => (0..self.len()).map(|i| i * block).collect(),
            Dataset::Examples(e) => {
                let mut order: Vec<usize> = (0..e.len()).collect();
                if shuffle {
                    order.shuffle(&mut rng);
                }
                order
            }
        }
    }
}

pub use slm_model::specials::Specials;

/// [`Specials::of`] for a tokenizer read from `path`: no EOS is a data error naming the file.
///
/// # Errors
/// The tokenizer has no end-of-sequence token.
pub fn specials(tokenizer: &Tokenizer, eos_hint: Option<&str>, path: &Path) -> Result<Specials> {
    Specials::of(tokenizer, eos_hint)
        .ok_or_else(|| TrainError::Data { path: path.to_owned(), problem: Specials::MISSING.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_plans_are_seeded_and_stay_inside_the_data() {
        let tokens: Vec<u32> = (0..101).collect();
        let ds = Dataset::Stream { docs: vec![0; tokens.len()], tokens, block: 10 };
        let plan = ds.epoch_plan(7, 0, true);
        assert_eq!(plan.len(), ds.len());
        assert_eq!(ds.epoch_plan(7, 0, true), plan);
        assert_ne!(ds.epoch_plan(7, 1, true), plan);
        // Every window has its 10 inputs and the target after them.
        assert!(plan.iter().all(|&s| ds.get(s).tokens.len() == 11));
        assert_eq!(ds.epoch_plan(7, 0, false), (0..ds.len()).map(|i| i * 10).collect::<Vec<_>>());
        let examples = Dataset::Examples(vec![ds.get(0); 5]);
        let mut order = examples.epoch_plan(7, 0, true);
        order.sort_unstable();
        assert_eq!(order, vec![0, 1, 2, 3, 4]);
    }
}
