//! Chat templates: the Jinja `chat_template` of a model's tokenizer_config.json (Hugging Face's
//! convention), rendered with minijinja for prompts and for training conversations.

use std::path::Path;

use crate::error::{ModelError, Result};

/// A model's chat template with the special tokens it refers to.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    template: String,
    bos: String,
    eos: String,
}

fn error(problem: String) -> ModelError {
    ModelError::format("tokenizer_config.json", problem)
}

impl ChatTemplate {
    /// A template from its Jinja source and the BOS/EOS strings it may use.
    pub fn new(template: &str, bos: &str, eos: &str) -> ChatTemplate {
        ChatTemplate { template: template.to_owned(), bos: bos.to_owned(), eos: eos.to_owned() }
    }

    /// The template of the model directory `dir`, or `None` when it has none.
    ///
    /// # Errors
    /// A `tokenizer_config.json` that cannot be read or is not a JSON object.
    pub fn load(dir: &Path) -> Result<Option<ChatTemplate>> {
        let Some(config) = crate::io::model_dir::read_json_if_present(dir, "tokenizer_config.json")? else {
            return Ok(None);
        };
        // Special tokens are strings, or (in older files) objects with a `content` string.
        let token =
            |key: &str| config[key].as_str().or_else(|| config[key]["content"].as_str()).unwrap_or_default().to_owned();
        Ok(config["chat_template"].as_str().map(|t| ChatTemplate {
            template: t.to_owned(),
            bos: token("bos_token"),
            eos: token("eos_token"),
        }))
    }

    /// The conversation `(role, content)` as text; with `add_generation_prompt` it ends ready for the
    /// assistant's turn.
    ///
    /// # Errors
    /// The template does not parse or fails to render.
    pub fn render(&self, messages: &[(String, String)], add_generation_prompt: bool) -> Result<String> {
        let mut env = minijinja::Environment::new();
        env.add_template("chat", &self.template)
            .map_err(|e| error(format!("the chat template does not parse: {e}")))?;
        let messages: Vec<minijinja::Value> =
            messages.iter().map(|(role, content)| minijinja::context! { role => role, content => content }).collect();
        let ctx = minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos,
            eos_token => self.eos,
        };
        env.get_template("chat")
            .and_then(|t| t.render(ctx))
            .map_err(|e| error(format!("the chat template failed: {e}")))
    }
}
