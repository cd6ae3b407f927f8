//! The model being explained and what its score is: for a classifier, the logit of one label at the last
//! token; for a causal language model, the log-probability of each token of a target text after the input
//! (teacher forcing). Attribution methods see it as a function from input token ids (some replaced by the
//! baseline token) or input embeddings to one score per target.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use slm_model::generate::{GenerateOptions, Generator};
use slm_model::specials::Specials;
use slm_model::{Head, Transformer};

use crate::error::{ExplainError, Result};

/// Which kind of model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A model with a classification head: the score is a label's logit.
    Classifier,
    /// A causal language model: the scores are the log-probabilities of a target text's tokens.
    CausalLm,
}

impl ModelKind {
    /// As the JSON output spells it.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Classifier => "classifier",
            ModelKind::CausalLm => "causal-lm",
        }
    }
}

/// What to explain the score of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A classifier's label (by name), or the predicted one.
    Label(Option<String>),
    /// A causal LM's continuation, or its greedy continuation of this many tokens.
    Text(Option<String>, usize),
}

/// The resolved target: a label index, or the target text's token ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// A label's index.
    Label(usize),
    /// Token ids that follow the input.
    Tokens(Vec<u32>),
}

impl Targets {
    /// Scores per evaluation.
    pub fn len(&self) -> usize {
        match self {
            Targets::Label(_) => 1,
            Targets::Tokens(t) => t.len(),
        }
    }

    /// Whether there is nothing to score (never, once resolved).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A loaded model to explain.
pub struct Subject {
    generator: Generator,
    dir: PathBuf,
    /// The model on the autodiff device, loaded the first time a gradient method needs it.
    autodiff: std::cell::OnceCell<Transformer>,
    /// The token that stands for an absent input token (the pad token, else the EOS).
    pub baseline: u32,
}

impl Subject {
    /// Loads the model directory (or LoRA adapter directory) `dir`.
    ///
    /// # Errors
    /// A missing or malformed file, or a tokenizer without an end-of-sequence token.
    pub fn load(dir: &Path, device: &Device) -> Result<Subject> {
        let generator = Generator::load(dir, device)?;
        let config = slm_model::io::model_dir::read_json_if_present(dir, "tokenizer_config.json")?.unwrap_or_default();
        let specials = Specials::of(generator.tokenizer(), config["eos_token"].as_str())
            .ok_or_else(|| ExplainError::Input(format!("{}: {}", dir.display(), Specials::MISSING)))?;
        Ok(Subject { generator, dir: dir.to_owned(), autodiff: std::cell::OnceCell::new(), baseline: specials.pad })
    }

    /// The model.
    pub fn model(&self) -> &Transformer {
        &self.generator.model
    }

    /// The same model on the autodiff device of its device (for gradients), read once and kept.
    ///
    /// # Errors
    /// The model cannot be read again.
    pub fn autodiff_model(&self) -> Result<&Transformer> {
        if let Some(model) = self.autodiff.get() {
            return Ok(model);
        }
        let mut model = Transformer::load(&self.dir, &self.model().device().clone().autodiff())?;
        model.merge_lora();
        Ok(self.autodiff.get_or_init(|| model))
    }

    /// Classifier or causal LM.
    pub fn kind(&self) -> ModelKind {
        if self.model().config.head == Head::Classification { ModelKind::Classifier } else { ModelKind::CausalLm }
    }

    /// The input's token ids.
    ///
    /// # Errors
    /// The text tokenizes to nothing, or does not fit the context.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        encode_input(&self.generator, text)
    }

    /// A token's vocabulary entry (`<|endoftext|>`, `Ġthe`, ...).
    pub fn tokenizer_token(&self, id: u32) -> String {
        self.generator.tokenizer().id_to_token(id).unwrap_or_else(|| format!("<{id}>"))
    }

    /// A token's own text.
    pub fn token_text(&self, id: u32) -> String {
        token_text(&self.generator, id)
    }

    /// Resolves `target` for the input `ids`; also returns each target's text.
    ///
    /// # Errors
    /// A label the model does not have, a label for a language model (or a text for a classifier), a
    /// target text that tokenizes to nothing, or input + target longer than the context.
    pub fn resolve(&self, ids: &[u32], target: &Target) -> Result<(Targets, Vec<String>)> {
        let labels = &self.model().config.labels;
        match (self.kind(), target) {
            (ModelKind::Classifier, Target::Label(name)) => {
                let index = match name {
                    Some(name) => labels.iter().position(|l| l == name).ok_or_else(|| {
                        ExplainError::Input(format!("--target {name}: the model's labels are {}", labels.join(", ")))
                    })?,
                    None => {
                        let logits = self.class_logits(ids);
                        logits.iter().enumerate().fold(0, |b, (i, v)| if *v > logits[b] { i } else { b })
                    }
                };
                Ok((Targets::Label(index), vec![labels[index].clone()]))
            }
            (ModelKind::Classifier, Target::Text(..)) => Err(ExplainError::Input(
                "the model is a classifier: explain a label with --target LABEL, not a --target-text".into(),
            )),
            (ModelKind::CausalLm, Target::Label(Some(_))) => Err(ExplainError::Input(
                "the model has no classification head: --target LABEL needs a classifier; use --target-text".into(),
            )),
            (ModelKind::CausalLm, Target::Label(None)) => unreachable!("a causal LM's default target is a text"),
            (ModelKind::CausalLm, Target::Text(text, max_new)) => {
                let tokens = match text {
                    Some(t) => self.generator.encode(t)?,
                    None => self.continuation(ids, *max_new)?,
                };
                if tokens.is_empty() {
                    return Err(ExplainError::Input("the target text tokenizes to nothing".into()));
                }
                let context = self.model().config.max_positions;
                if ids.len() + tokens.len() > context {
                    return Err(ExplainError::Input(format!(
                        "the input ({} tokens) and the target ({} tokens) do not fit the model's context of {context}",
                        ids.len(),
                        tokens.len()
                    )));
                }
                let texts = tokens.iter().map(|&t| self.token_text(t)).collect();
                Ok((Targets::Tokens(tokens), texts))
            }
        }
    }

    fn class_logits(&self, ids: &[u32]) -> Vec<f32> {
        let model = self.model();
        let device = model.device();
        let tokens = Tensor::<2, Int>::from_data(
            TensorData::new(ids.iter().map(|&i| i64::from(i)).collect(), [1, ids.len()]),
            device,
        );
        let last = Tensor::<1, Int>::from_data(TensorData::new(vec![ids.len() as i64 - 1], [1]), device);
        let hidden = model.hidden_from_embeddings(model.token_embeddings(tokens));
        model.class_logits(hidden, last).into_data().try_to_vec().expect("f32 logits")
    }

    /// The greedy continuation of `ids` (at most `max_new` tokens, ending at an end-of-turn token).
    fn continuation(&self, ids: &[u32], max_new: usize) -> Result<Vec<u32>> {
        let prompt = self.generator.decode(ids)?;
        let opts = GenerateOptions { max_new_tokens: max_new, ..GenerateOptions::default() };
        let generation = self.generator.generate(&prompt, &opts, |_| {})?;
        Ok(generation.tokens)
    }

    /// The scores of `rows` (each an input of the same length, some tokens replaced by the baseline):
    /// `[row][target]`, in batches.
    pub fn scores(&self, rows: &[Vec<u32>], targets: &Targets) -> Vec<Vec<f32>> {
        let model = self.model();
        let mut out = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(16) {
            let n = chunk[0].len();
            let ids: Vec<i64> = chunk
                .iter()
                .flat_map(|r| {
                    let tail = match targets {
                        Targets::Tokens(t) => t.as_slice(),
                        Targets::Label(_) => &[],
                    };
                    r.iter().chain(tail).map(|&t| i64::from(t))
                })
                .collect();
            let width = ids.len() / chunk.len();
            let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [chunk.len(), width]), model.device());
            let scores = score(model, model.token_embeddings(tokens), n, targets);
            let flat: Vec<f32> = scores.into_data().try_to_vec().expect("f32 scores");
            out.extend(flat.chunks_exact(targets.len()).map(<[f32]>::to_vec));
        }
        out
    }
}

/// A token's own text (its decoding alone; the vocabulary entry when that is empty).
pub fn token_text(generator: &Generator, id: u32) -> String {
    match generator.decode(&[id]) {
        Ok(text) if !text.is_empty() => text,
        _ => generator.tokenizer().id_to_token(id).unwrap_or_else(|| format!("<{id}>")),
    }
}

/// The token ids of an input to explain.
///
/// # Errors
/// The text tokenizes to nothing, or does not fit the model's context.
pub fn encode_input(generator: &Generator, text: &str) -> Result<Vec<u32>> {
    let ids = generator.encode(text)?;
    let context = generator.model.config.max_positions;
    if ids.is_empty() {
        return Err(ExplainError::Input("the text tokenizes to nothing".into()));
    }
    if ids.len() > context {
        return Err(ExplainError::Input(format!(
            "the text has {} tokens; the model's context is {context}",
            ids.len()
        )));
    }
    Ok(ids)
}

/// Scores `[rows, targets]` of embedded inputs `x` `[rows, n (+ target tokens), hidden]` whose first `n`
/// positions are the input (any device: gradients flow back to `x` on an autodiff device).
pub fn score(model: &Transformer, x: Tensor<3>, n: usize, targets: &Targets) -> Tensor<2> {
    let [rows, _, _] = x.dims();
    let hidden = model.hidden_from_embeddings(x);
    let device = hidden.device();
    match targets {
        Targets::Label(label) => {
            let last = Tensor::<1, Int>::from_data(TensorData::new(vec![n as i64 - 1; rows], [rows]), &device);
            model.class_logits(hidden, last).narrow(1, *label, 1)
        }
        Targets::Tokens(tokens) => {
            let m = tokens.len();
            let logp = log_softmax(model.lm_logits(hidden.narrow(1, n - 1, m)), 2);
            let index: Vec<i64> = (0..rows).flat_map(|_| tokens.iter().map(|&t| i64::from(t))).collect();
            let index = Tensor::<3, Int>::from_data(TensorData::new(index, [rows, m, 1]), &device);
            logp.gather(2, index).reshape([rows, m])
        }
    }
}
