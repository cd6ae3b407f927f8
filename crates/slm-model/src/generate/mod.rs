//! Text generation with a [`Transformer`] model: the prompt (optionally wrapped in the model's chat template) is
//! encoded once, then tokens are produced one at a time. With the KV cache (the default) each new token
//! costs one position's worth of work against the cached keys and values; without it the whole sequence
//! is recomputed (kept for tests that prove both give the same tokens).

pub mod backtranslate;
pub mod batch;
pub mod beam;
pub mod chat;
pub mod sampling;
pub mod text_stream;

use std::path::Path;

use burn::prelude::*;
use serde_json::Value;
use tokenizers::Tokenizer;

use self::beam::{BeamOptions, beam_search};
use self::chat::ChatTemplate;
use self::sampling::{Sampler, SamplingOptions};
use crate::error::{ModelError, Result};
use crate::io::model_dir::read_json_if_present;
use crate::transformer::Transformer;

/// How to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Most tokens to add.
    pub max_new_tokens: usize,
    /// Reuse keys and values of earlier positions.
    pub use_cache: bool,
    /// How each token is chosen (greedy by default).
    pub sampling: SamplingOptions,
    /// Stop as soon as the new text contains one of these; the text is cut before it.
    pub stop: Vec<String>,
    /// Beam search instead of greedy decoding or sampling.
    pub beam: Option<BeamOptions>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_new_tokens: 128,
            use_cache: true,
            sampling: SamplingOptions::default(),
            stop: Vec::new(),
            beam: None,
        }
    }
}

/// What a generation produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The new text (special tokens removed).
    pub text: String,
    /// The new token ids.
    pub tokens: Vec<u32>,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Seconds spent on the prompt (prefill: one forward pass over it, logits read back).
    pub prefill_secs: f64,
    /// Seconds spent producing the new tokens.
    pub decode_secs: f64,
}

/// A model with its tokenizer and chat template.
pub struct Generator {
    /// The model.
    pub model: Transformer,
    tokenizer: Tokenizer,
    chat_template: Option<ChatTemplate>,
    pub(crate) stop: Vec<u32>,
}

impl Generator {
    /// Loads the model directory `dir` (config.json, model.safetensors, tokenizer.json and, when present,
    /// tokenizer_config.json and generation_config.json), or a LoRA adapter directory (merged into its base).
    ///
    /// # Errors
    /// A missing or malformed file.
    pub fn load(dir: &Path, device: &Device) -> Result<Generator> {
        Generator::with_model(Transformer::load(dir, device)?, dir)
    }

    /// A generator over `model`, loaded from `dir`, with the tokenizer and configuration files of `dir`.
    ///
    /// # Errors
    /// A missing or malformed file.
    pub fn with_model(mut model: Transformer, dir: &Path) -> Result<Generator> {
        // An adapter directory: fold the adapters in once rather than paying their matmuls per token.
        model.merge_lora();
        let tokenizer = crate::io::model_dir::read_tokenizer(dir)?;
        let gen_config = read_json_if_present(dir, "generation_config.json")?.unwrap_or_default();
        let stop: Vec<u32> = match &gen_config["eos_token_id"] {
            Value::Number(n) => n.as_u64().into_iter().map(|x| x as u32).collect(),
            Value::Array(a) => a.iter().filter_map(Value::as_u64).map(|x| x as u32).collect(),
            _ => Vec::new(),
        };
        Ok(Generator::new(model, tokenizer, ChatTemplate::load(dir)?, stop))
    }

    /// A generator over a model already in memory (e.g. one being trained). Generation stops at the ids in
    /// `stop` and at the end-of-turn tokens the tokenizer knows (`<|im_end|>`, `<|endoftext|>`,
    /// `<|eot_id|>`: chat models end their turn with one that may not be the EOS).
    pub fn new(
        model: Transformer,
        tokenizer: Tokenizer,
        chat_template: Option<ChatTemplate>,
        stop: Vec<u32>,
    ) -> Generator {
        let mut stop = stop;
        for t in ["<|im_end|>", "<|endoftext|>", "<|eot_id|>"] {
            stop.extend(tokenizer.token_to_id(t));
        }
        Generator { model, tokenizer, chat_template, stop }
    }

    /// The model's tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The model's chat template, when it has one.
    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        self.chat_template.as_ref()
    }

    /// The prompt for one user message through the model's chat template, ready for the assistant's turn.
    ///
    /// # Errors
    /// The model has no chat template, or the template fails to render.
    pub fn chat_prompt(&self, message: &str) -> Result<String> {
        let template = self.chat_template.as_ref().ok_or_else(|| {
            ModelError::format("tokenizer_config.json", "the model has no chat template; drop --chat")
        })?;
        template.render(&[("user".to_owned(), message.to_owned())], true)
    }

    /// The token ids of `text` (special tokens in the text are recognised; none are added).
    ///
    /// # Errors
    /// The tokenizer fails.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(|e| ModelError::format("tokenizer.json", format!("cannot encode the prompt: {e}")))?
            .get_ids()
            .to_vec())
    }

    /// Generation after `prompt` (already templated if wanted); `on_token` sees each new id.
    ///
    /// # Errors
    /// An empty prompt, or a prompt that leaves no room in the model's context.
    pub fn generate(&self, prompt: &str, opts: &GenerateOptions, mut on_token: impl FnMut(u32)) -> Result<Generation> {
        let ids = self.encode(prompt)?;
        let context = self.model.config.max_positions;
        if ids.is_empty() {
            return Err(ModelError::format("prompt", "the prompt is empty"));
        }
        if ids.len() >= context {
            return Err(ModelError::format(
                "prompt",
                format!("the prompt has {} tokens but the model's context is {context}", ids.len()),
            ));
        }
        if let Some(beam) = &opts.beam {
            let started = std::time::Instant::now();
            let room = opts.max_new_tokens.min(context - ids.len());
            let (tokens, _) = beam_search(&self.model, &ids, room, &self.stop, beam);
            tokens.iter().for_each(|&t| on_token(t));
            let text = self.decode(&tokens)?;
            let decode_secs = started.elapsed().as_secs_f64();
            return Ok(Generation { text, tokens, prompt_tokens: ids.len(), prefill_secs: 0.0, decode_secs });
        }
        let device = self.model.device().clone();
        let as_tensor = |ids: &[u32]| {
            let data: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
            Tensor::<2, Int>::from_data(TensorData::new(data, [1, ids.len()]), &device)
        };
        let mut all = ids.clone();
        let mut new = Vec::new();
        let mut cache = self.model.cache();
        let mut sampler = Sampler::new(opts.sampling.clone());
        let started = std::time::Instant::now();
        let mut logits = self.model.forward(as_tensor(&ids), &mut cache);
        // Reading the logits back waits for the computation, so the prefill time is real.
        let mut first = Some(logits.clone().narrow(1, ids.len() - 1, 1).into_data());
        let prefill_secs = started.elapsed().as_secs_f64();
        while new.len() < opts.max_new_tokens {
            let [_, t, _] = logits.dims();
            let data = first.take().unwrap_or_else(|| logits.narrow(1, t - 1, 1).into_data());
            let last: Vec<f32> = data.try_to_vec().expect("f32 logits");
            let next = sampler.pick(last, &all, ids.len());
            if self.stop.contains(&next) {
                break;
            }
            on_token(next);
            new.push(next);
            all.push(next);
            if self.hits_stop(&new, &opts.stop) {
                break;
            }
            logits = if opts.use_cache && all.len() <= context {
                self.model.forward(as_tensor(&[next]), &mut cache)
            } else {
                // Without the cache, or once the context is full, recompute over the most recent
                // `context` tokens (the window slides, as in nanoGPT's sampler).
                self.model.forward(as_tensor(&all[all.len().saturating_sub(context)..]), &mut self.model.cache())
            };
        }
        let text = self.text_before_stop(&new, &opts.stop)?;
        let decode_secs = started.elapsed().as_secs_f64() - prefill_secs;
        Ok(Generation { text, tokens: new, prompt_tokens: ids.len(), prefill_secs, decode_secs })
    }

    /// Whether the text of `new` contains one of the `stop` strings (decoded once).
    pub(crate) fn hits_stop(&self, new: &[u32], stop: &[String]) -> bool {
        !stop.is_empty() && self.decode(new).is_ok_and(|t| stop.iter().any(|s| t.contains(s.as_str())))
    }

    /// The text of `new`, cut before the first `stop` string it contains.
    pub(crate) fn text_before_stop(&self, new: &[u32], stop: &[String]) -> Result<String> {
        let mut text = self.decode(new)?;
        if let Some(cut) = stop.iter().filter_map(|s| text.find(s.as_str())).min() {
            text.truncate(cut);
        }
        Ok(text)
    }

    /// Decodes ids to text, special tokens removed.
    ///
    /// # Errors
    /// The tokenizer fails.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| ModelError::format("tokenizer.json", format!("cannot decode: {e}")))
    }
}
