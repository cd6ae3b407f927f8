//! A classifier with its tokenizer: the label and class probabilities of texts. Texts are encoded as
//! training encodes them (no special tokens added, cut to the model's context, an empty text as the EOS
//! alone) and run in batches padded on the right: a classification head attends causally, so no real
//! token ever sees the padding, and each row is read at its own last real token.

use std::path::Path;

use burn::prelude::*;
use burn::tensor::activation::softmax;
use tokenizers::Tokenizer;

use crate::io::model_dir::{read_json_if_present, read_tokenizer};
use crate::specials::Specials;
use crate::{Head, ModelError, Result, TokenLayout, Transformer};

/// A model with a classification head, and its tokenizer.
pub struct Classifier {
    /// The model.
    pub model: Transformer,
    tokenizer: Tokenizer,
    specials: Specials,
}

/// The class of one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Index of the most probable class (the first of equals).
    pub label: usize,
    /// Probability of every class.
    pub probs: Vec<f32>,
}

impl Prediction {
    /// The probability of the predicted class.
    pub fn confidence(&self) -> f32 {
        self.probs[self.label]
    }

    /// The predicted class's probability minus the runner-up's (1 with a single class).
    pub fn margin(&self) -> f32 {
        let second =
            self.probs.iter().enumerate().filter(|&(i, _)| i != self.label).map(|(_, &p)| p).fold(0.0, f32::max);
        self.confidence() - second
    }
}

impl Classifier {
    /// Loads a classifier directory (config.json with a `*ForSequenceClassification` architecture,
    /// model.safetensors, tokenizer.json), or a LoRA adapter directory of one (merged into its base).
    ///
    /// # Errors
    /// A missing or malformed file, or a model without a classification head.
    pub fn load(dir: &Path, device: &Device) -> Result<Classifier> {
        Classifier::with_model(Transformer::load(dir, device)?, dir)
    }

    /// A classifier over `model`, loaded from `dir`, with the tokenizer files of `dir`.
    ///
    /// # Errors
    /// A missing or malformed file, or a model without a classification head.
    pub fn with_model(mut model: Transformer, dir: &Path) -> Result<Classifier> {
        if model.config.head != Head::Classification {
            return Err(ModelError::format(
                dir.join("config.json"),
                "the model has no classification head (train one with model.head = \"classification\")",
            ));
        }
        model.merge_lora();
        let tokenizer = read_tokenizer(dir)?;
        let config = read_json_if_present(dir, "tokenizer_config.json")?.unwrap_or_default();
        let specials = Specials::of(&tokenizer, config["eos_token"].as_str())
            .ok_or_else(|| ModelError::format(dir.join("tokenizer.json"), Specials::MISSING))?;
        Ok(Classifier { model, tokenizer, specials })
    }

    /// The class names, by index.
    pub fn labels(&self) -> &[String] {
        &self.model.config.labels
    }

    /// The token ids the model reads for `text`.
    ///
    /// # Errors
    /// The tokenizer fails on the text.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| ModelError::format("text", format!("cannot tokenize: {e}")))?
            .get_ids()
            .to_vec();
        ids.truncate(self.model.config.max_positions);
        if ids.is_empty() {
            ids.push(self.specials.eos);
        }
        Ok(ids)
    }

    /// The class of every text, as one batch.
    ///
    /// # Errors
    /// The tokenizer fails on a text.
    pub fn predict(&self, texts: &[&str]) -> Result<Vec<Prediction>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let rows = texts.iter().map(|t| self.encode(t)).collect::<Result<Vec<_>>>()?;
        let width = rows.iter().map(Vec::len).max().unwrap_or(1);
        let mut ids = vec![i64::from(self.specials.pad); rows.len() * width];
        for (r, row) in rows.iter().enumerate() {
            for (i, &t) in row.iter().enumerate() {
                ids[r * width + i] = i64::from(t);
            }
        }
        let last: Vec<i64> = rows.iter().map(|r| r.len() as i64 - 1).collect();
        let device = self.model.device();
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [rows.len(), width]), device);
        let last = Tensor::<1, Int>::from_data(TensorData::new(last, [rows.len()]), device);
        let hidden = self.model.hidden(tokens, &TokenLayout::default(), &mut self.model.cache());
        let probs = softmax(self.model.class_logits(hidden, last), 1);
        let classes = probs.dims()[1];
        let flat: Vec<f32> = probs.into_data().try_to_vec().expect("f32 probabilities");
        Ok(flat
            .chunks(classes)
            .map(|p| {
                let label = p.iter().enumerate().fold(0, |best, (i, &v)| if v > p[best] { i } else { best });
                Prediction { label, probs: p.to_vec() }
            })
            .collect())
    }
}
