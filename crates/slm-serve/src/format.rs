//! The JSON of OpenAI's answers: whole responses, streamed chunks and log-probabilities, for chat
//! (`chat.completion`, `chat.completion.chunk`) and for text completions (`text_completion`).

use serde_json::{Value, json};
use slm_model::generate::batch::{Finish, TokenOut};

use crate::schema::Endpoint;

/// What every answer to one request shares.
pub struct Head {
    /// `chatcmpl-…` or `cmpl-…`, the same in every chunk.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// The model name the request used.
    pub model: String,
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// Log-probabilities were asked for.
    pub logprobs: bool,
}

/// OpenAI's name of a finish reason.
pub fn finish_name(f: Finish) -> &'static str {
    match f {
        Finish::Stop => "stop",
        Finish::Length => "length",
    }
}

/// `usage`; `prompt_tokens` counts each prompt once, whatever `n`.
pub fn usage(prompt: usize, completion: usize) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

impl Head {
    fn object(&self, chunk: bool) -> &'static str {
        match (self.endpoint, chunk) {
            (Endpoint::Chat, false) => "chat.completion",
            (Endpoint::Chat, true) => "chat.completion.chunk",
            (Endpoint::Completion, _) => "text_completion",
        }
    }

    fn wrap(&self, chunk: bool, choices: Vec<Value>) -> Value {
        json!({"id": self.id, "object": self.object(chunk), "created": self.created, "model": self.model,
               "system_fingerprint": null, "choices": choices})
    }

    /// The whole answer: per choice its text, tokens and finish reason.
    pub fn response(&self, choices: &[(String, Vec<TokenOut>, Finish)], usage: Value) -> Value {
        let choices = choices
            .iter()
            .enumerate()
            .map(|(index, (text, tokens, finish))| {
                let logprobs = self.logprobs_json(tokens, 0);
                match self.endpoint {
                    Endpoint::Chat => json!({"index": index, "message": {"role": "assistant", "content": text},
                        "logprobs": logprobs, "finish_reason": finish_name(*finish)}),
                    Endpoint::Completion => json!({"index": index, "text": text, "logprobs": logprobs,
                        "finish_reason": finish_name(*finish)}),
                }
            })
            .collect();
        let mut v = self.wrap(false, choices);
        v["usage"] = usage;
        v
    }

    /// The first chunk of a chat choice: the assistant's role, no content yet.
    pub fn role_chunk(&self, index: usize) -> Value {
        let choice = json!({"index": index, "delta": {"role": "assistant", "content": ""}, "logprobs": null,
                            "finish_reason": null});
        self.wrap(true, vec![choice])
    }

    /// A chunk with new text of choice `index` (and its tokens' log-probabilities when asked);
    /// `offset` is the choice's text length (in characters) before it.
    pub fn content_chunk(&self, index: usize, delta: &str, tokens: &[TokenOut], offset: usize) -> Value {
        let logprobs = self.logprobs_json(tokens, offset);
        let choice = match self.endpoint {
            Endpoint::Chat => {
                json!({"index": index, "delta": {"content": delta}, "logprobs": logprobs, "finish_reason": null})
            }
            Endpoint::Completion => json!({"index": index, "text": delta, "logprobs": logprobs, "finish_reason": null}),
        };
        self.wrap(true, vec![choice])
    }

    /// The last chunk of a choice: its finish reason and no content.
    pub fn finish_chunk(&self, index: usize, finish: Finish) -> Value {
        let choice = match self.endpoint {
            Endpoint::Chat => {
                json!({"index": index, "delta": {}, "logprobs": null, "finish_reason": finish_name(finish)})
            }
            Endpoint::Completion => {
                json!({"index": index, "text": "", "logprobs": null, "finish_reason": finish_name(finish)})
            }
        };
        self.wrap(true, vec![choice])
    }

    /// The chunk after every choice finished, when `stream_options.include_usage` asked for it.
    pub fn usage_chunk(&self, usage: Value) -> Value {
        let mut v = self.wrap(true, Vec::new());
        v["usage"] = usage;
        v
    }

    /// Log-probabilities in the endpoint's format, or null when not asked for.
    fn logprobs_json(&self, tokens: &[TokenOut], mut offset: usize) -> Value {
        if !self.logprobs {
            return Value::Null;
        }
        let scored = || tokens.iter().filter_map(|t| t.logprob.as_ref().map(|lp| (t, lp)));
        match self.endpoint {
            Endpoint::Chat => {
                let content: Vec<Value> = scored()
                    .map(|(t, lp)| {
                        let top: Vec<Value> = lp
                            .top
                            .iter()
                            .map(|(_, s, l)| json!({"token": s, "logprob": l, "bytes": s.as_bytes()}))
                            .collect();
                        json!({"token": t.text, "logprob": lp.value, "bytes": t.text.as_bytes(), "top_logprobs": top})
                    })
                    .collect();
                json!({"content": content})
            }
            Endpoint::Completion => {
                let (mut toks, mut lps, mut tops, mut offsets) = (vec![], vec![], vec![], vec![]);
                for (t, lp) in scored() {
                    toks.push(json!(t.text));
                    lps.push(json!(lp.value));
                    let map: serde_json::Map<String, Value> =
                        lp.top.iter().map(|(_, s, l)| (s.clone(), json!(l))).collect();
                    tops.push(Value::Object(map));
                    offsets.push(json!(offset));
                    offset += t.text.chars().count();
                }
                json!({"tokens": toks, "token_logprobs": lps, "top_logprobs": tops, "text_offset": offsets})
            }
        }
    }
}
