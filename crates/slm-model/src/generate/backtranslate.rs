//! Back-translation (augmentation by a round trip through another language): a model translates a text into a pivot
//! language and back, and the round trip is kept as a paraphrase. Chat models get the request through
//! their chat template; other models get a plain "Text: ... / French:" completion prompt.

use rand_chacha::ChaCha8Rng;
use slm_data::augment::TextOp;

use super::{GenerateOptions, Generator};
use crate::error::Result;

/// Language names of common pivot codes (other codes are used as given).
fn language(code: &str) -> &str {
    match code {
        "fr" => "French",
        "de" => "German",
        "es" => "Spanish",
        "it" => "Italian",
        "pt" => "Portuguese",
        "zh" => "Chinese",
        "ja" => "Japanese",
        "ru" => "Russian",
        "en" => "English",
        other => other,
    }
}

/// A [`TextOp`] that rewrites a text by translating it to `pivot` and back to `source`.
pub struct BackTranslate {
    generator: Generator,
    pivot: String,
    source: String,
    chat: bool,
}

impl BackTranslate {
    /// Round trips through language `pivot` (a code such as `fr`, or a name) back to `source`.
    pub fn new(generator: Generator, pivot: &str, source: &str) -> BackTranslate {
        let chat = generator.chat_prompt("").is_ok();
        BackTranslate { generator, pivot: language(pivot).to_owned(), source: language(source).to_owned(), chat }
    }

    /// The prompt asking for `text` in `lang`.
    pub fn prompt(&self, text: &str, lang: &str) -> String {
        if self.chat {
            let request =
                format!("Translate the following text into {lang}. Reply with the translation only.\n\n{text}");
            self.generator.chat_prompt(&request).unwrap_or_default()
        } else {
            format!("Text: {text}\n{lang}:")
        }
    }

    /// One translation: greedy, at most about twice the input's tokens, first line only; `None` when the
    /// model answers with nothing.
    ///
    /// # Errors
    /// The text does not tokenize, or the prompt does not fit the model's context.
    pub fn translate(&self, text: &str, lang: &str) -> Result<Option<String>> {
        let budget = self.generator.encode(text)?.len() * 2 + 16;
        let opts = GenerateOptions { max_new_tokens: budget, stop: vec!["\n".into()], ..GenerateOptions::default() };
        let out = self.generator.generate(&self.prompt(text, lang), &opts, |_| {})?;
        let line = out.text.trim().to_owned();
        Ok((!line.is_empty()).then_some(line))
    }
}

impl TextOp for BackTranslate {
    fn name(&self) -> &'static str {
        "back_translation"
    }

    fn apply(&self, text: &str, _rng: &mut ChaCha8Rng) -> std::result::Result<Option<String>, String> {
        let round_trip = || -> Result<Option<String>> {
            let Some(pivot) = self.translate(text, &self.pivot)? else { return Ok(None) };
            let Some(back) = self.translate(&pivot, &self.source)? else { return Ok(None) };
            Ok((back.trim() != text.trim()).then_some(back))
        };
        round_trip().map_err(|e| e.to_string())
    }
}
