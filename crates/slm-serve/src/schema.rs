//! The request bodies of `/v1/chat/completions` and `/v1/completions`, read field by field so that a
//! wrong value is a 400 naming its field. Fields the server does not know are ignored (and logged by the
//! caller); fields it knows but cannot honour (tools, logit_bias, ...) are refused rather than ignored.

use serde_json::{Map, Value};
use slm_model::generate::sampling::SamplingOptions;

use crate::error::ApiError;

/// Which endpoint a body is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/chat/completions`: `messages` through the model's chat template.
    Chat,
    /// `/v1/completions`: `prompt`, a string or a list of strings.
    Completion,
}

/// What to generate from.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A conversation `(role, content)`.
    Messages(Vec<(String, String)>),
    /// Raw prompts, one per set of choices.
    Prompts(Vec<String>),
}

/// A parsed completion request.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The model or adapter named (none: the base model).
    pub model: Option<String>,
    /// The prompt(s).
    pub input: Input,
    /// Most tokens to generate (none: up to the context).
    pub max_tokens: Option<usize>,
    /// Sampling settings; `seed` is the request's or a fresh one.
    pub sampling: SamplingOptions,
    /// Stop strings.
    pub stop: Vec<String>,
    /// Choices per prompt.
    pub n: usize,
    /// Per-token log-probabilities, with this many alternatives.
    pub logprobs: Option<usize>,
    /// Stream server-sent events.
    pub stream: bool,
    /// With `stream`: a last chunk with the usage.
    pub include_usage: bool,
}

/// Most choices one request may ask for (`n` times the number of prompts).
pub const MAX_CHOICES: usize = 64;
/// Most alternatives per token in log-probabilities (OpenAI's limit).
const MAX_TOP_LOGPROBS: usize = 20;

const COMMON: &[&str] = &[
    "model",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "seed",
    "stop",
    "n",
    "presence_penalty",
    "frequency_penalty",
    "repetition_penalty",
    "logprobs",
    "stream",
    "stream_options",
    "user",
];
const REFUSED: &[&str] = &[
    "logit_bias",
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "response_format",
    "suffix",
    "echo",
    "best_of",
    "audio",
    "prediction",
];

/// Parses `body` for `endpoint`; also returns the names of fields it ignored.
///
/// # Errors
/// Malformed JSON, a missing or mistyped field, a value out of range, or an unsupported feature.
pub fn parse(body: &[u8], endpoint: Endpoint, fresh_seed: u64) -> Result<(Parsed, Vec<String>), ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid("body", format!("the body is not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(ApiError::invalid("body", "the body must be a JSON object"));
    };
    let f = Fields(&obj);
    for key in REFUSED {
        if obj.get(*key).is_some_and(|v| !v.is_null() && *v != Value::Bool(false)) {
            return Err(ApiError::invalid(key, format!("`{key}` is not supported by slm serve")));
        }
    }
    let specific: &[&str] = match endpoint {
        Endpoint::Chat => &["messages", "max_completion_tokens", "top_logprobs"],
        Endpoint::Completion => &["prompt"],
    };
    let ignored =
        obj.keys().filter(|k| !COMMON.contains(&k.as_str()) && !specific.contains(&k.as_str())).cloned().collect();
    let input = match endpoint {
        Endpoint::Chat => Input::Messages(messages(obj.get("messages"))?),
        Endpoint::Completion => Input::Prompts(prompts(obj.get("prompt"))?),
    };
    let max_tokens = match endpoint {
        Endpoint::Chat => f.uint("max_completion_tokens", 1, usize::MAX)?.or(f.uint("max_tokens", 1, usize::MAX)?),
        Endpoint::Completion => f.uint("max_tokens", 1, usize::MAX)?,
    };
    let logprobs = match endpoint {
        Endpoint::Chat => {
            let wanted = f.boolean("logprobs")?.unwrap_or(false);
            let top = f.uint("top_logprobs", 0, MAX_TOP_LOGPROBS)?;
            if top.is_some() && !wanted {
                return Err(ApiError::invalid("top_logprobs", "`top_logprobs` needs `logprobs: true`"));
            }
            wanted.then_some(top.unwrap_or(0))
        }
        Endpoint::Completion => f.uint("logprobs", 0, MAX_TOP_LOGPROBS)?,
    };
    let n = f.uint("n", 1, MAX_CHOICES)?.unwrap_or(1);
    let prompts = match &input {
        Input::Messages(_) => 1,
        Input::Prompts(p) => p.len(),
    };
    if n * prompts > MAX_CHOICES {
        return Err(ApiError::invalid("n", format!("n times the prompts must be at most {MAX_CHOICES}")));
    }
    let top_k = match f.number("top_k", -1.0, f64::MAX)? {
        Some(k) if k.fract() != 0.0 => return Err(ApiError::invalid("top_k", "`top_k` must be an integer")),
        Some(k) if k > 0.0 => k as usize,
        _ => 0,
    };
    let sampling = SamplingOptions {
        temperature: f.number("temperature", 0.0, 2.0)?.unwrap_or(1.0) as f32,
        top_p: f.number("top_p", f64::MIN_POSITIVE, 1.0)?.unwrap_or(1.0) as f32,
        top_k,
        min_p: f.number("min_p", 0.0, 0.999_999)?.unwrap_or(0.0) as f32,
        repetition_penalty: f.number("repetition_penalty", 1.0, 10.0)?.unwrap_or(1.0) as f32,
        presence_penalty: f.number("presence_penalty", -2.0, 2.0)?.unwrap_or(0.0) as f32,
        frequency_penalty: f.number("frequency_penalty", -2.0, 2.0)?.unwrap_or(0.0) as f32,
        seed: f.integer("seed")?.map_or(fresh_seed, |s| s as u64),
        ..SamplingOptions::default()
    };
    let stream = f.boolean("stream")?.unwrap_or(false);
    let include_usage = match obj.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(o)) => Fields(o).boolean("include_usage")?.unwrap_or(false),
        Some(_) => return Err(ApiError::invalid("stream_options", "`stream_options` must be an object")),
    };
    if include_usage && !stream {
        return Err(ApiError::invalid("stream_options", "`stream_options` is only allowed with `stream: true`"));
    }
    let model = f.string("model")?;
    let parsed =
        Parsed { model, input, max_tokens, sampling, stop: stop(obj.get("stop"))?, n, logprobs, stream, include_usage };
    Ok((parsed, ignored))
}

/// Typed access to an object's optional fields; `null` counts as absent.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn number(&self, key: &str, min: f64, max: f64) -> Result<Option<f64>, ApiError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        let x = v.as_f64().ok_or_else(|| ApiError::invalid(key, format!("`{key}` must be a number")))?;
        if !(min..=max).contains(&x) {
            let range = if max == f64::MAX { format!(">= {min}") } else { format!("in [{min}, {max}]") };
            return Err(ApiError::invalid(key, format!("`{key}` must be {range}, got {x}")));
        }
        Ok(Some(x))
    }

    fn integer(&self, key: &str) -> Result<Option<i64>, ApiError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        v.as_i64().map(Some).ok_or_else(|| ApiError::invalid(key, format!("`{key}` must be an integer")))
    }

    fn uint(&self, key: &str, min: usize, max: usize) -> Result<Option<usize>, ApiError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        match v.as_u64().map(|x| x as usize) {
            Some(x) if (min..=max).contains(&x) => Ok(Some(x)),
            _ if max == usize::MAX => Err(ApiError::invalid(key, format!("`{key}` must be an integer >= {min}"))),
            _ => Err(ApiError::invalid(key, format!("`{key}` must be an integer in [{min}, {max}]"))),
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, ApiError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        v.as_bool().map(Some).ok_or_else(|| ApiError::invalid(key, format!("`{key}` must be true or false")))
    }

    fn string(&self, key: &str) -> Result<Option<String>, ApiError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        v.as_str()
            .map(|s| Some(s.to_owned()))
            .ok_or_else(|| ApiError::invalid(key, format!("`{key}` must be a string")))
    }
}

/// `messages`: a non-empty list of `{role, content}`; content is a string or a list of text parts.
fn messages(value: Option<&Value>) -> Result<Vec<(String, String)>, ApiError> {
    let bad = |m: String| ApiError::invalid("messages", m);
    let list = value.and_then(Value::as_array).ok_or_else(|| bad("`messages` must be a list of messages".into()))?;
    if list.is_empty() {
        return Err(bad("`messages` must not be empty".into()));
    }
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            let role = m["role"].as_str().ok_or_else(|| bad(format!("messages[{i}].role must be a string")))?;
            let role = match role {
                "system" | "user" | "assistant" => role,
                "developer" => "system",
                other => return Err(bad(format!("messages[{i}].role `{other}` is not system, user or assistant"))),
            };
            let content = match &m["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .map(|p| match (p["type"].as_str(), p["text"].as_str()) {
                        (Some("text"), Some(t)) => Ok(t),
                        _ => Err(bad(format!("messages[{i}].content: only text parts are supported"))),
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .concat(),
                _ => return Err(bad(format!("messages[{i}].content must be a string or a list of text parts"))),
            };
            Ok((role.to_owned(), content))
        })
        .collect()
}

/// `prompt`: a string or a non-empty list of strings.
fn prompts(value: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let bad = || ApiError::invalid("prompt", "`prompt` must be a string or a non-empty list of strings");
    match value {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(list)) if !list.is_empty() => {
            list.iter().map(|p| p.as_str().map(str::to_owned).ok_or_else(bad)).collect()
        }
        _ => Err(bad()),
    }
}

/// `stop`: a string or a list of at most 16 non-empty strings.
fn stop(value: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let bad = || ApiError::invalid("stop", "`stop` must be a string or a list of up to 16 non-empty strings");
    let list = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(l)) if l.len() <= 16 => {
            l.iter().map(|s| s.as_str().map(str::to_owned).ok_or_else(bad)).collect::<Result<_, _>>()?
        }
        _ => return Err(bad()),
    };
    if list.iter().any(String::is_empty) {
        return Err(bad());
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(body: &str) -> Result<Parsed, ApiError> {
        parse(body.as_bytes(), Endpoint::Chat, 7).map(|(p, _)| p)
    }

    #[test]
    fn a_full_chat_request_is_read() {
        let body = r#"{"model": "m", "messages": [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]}], "max_tokens": 5,
            "max_completion_tokens": 9, "temperature": 0, "stop": "x", "n": 2, "logprobs": true,
            "top_logprobs": 3, "stream": true, "stream_options": {"include_usage": true}, "seed": 11,
            "presence_penalty": 0.5, "top_k": -1, "metadata": {}}"#;
        let (p, ignored) = parse(body.as_bytes(), Endpoint::Chat, 7).unwrap();
        assert_eq!(p.input, Input::Messages(vec![("system".into(), "Be brief.".into()), ("user".into(), "Hi".into())]));
        assert_eq!((p.max_tokens, p.n, p.logprobs, p.stream, p.include_usage), (Some(9), 2, Some(3), true, true));
        assert_eq!((p.sampling.seed, p.sampling.temperature, p.sampling.top_k), (11, 0.0, 0));
        assert_eq!(p.stop, ["x"]);
        assert_eq!(ignored, ["metadata"]);
        assert_eq!(chat(r#"{"messages": [{"role": "user", "content": "a"}]}"#).unwrap().sampling.seed, 7);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            ("[1]", "body"),
            (r#"{"messages": []}"#, "messages"),
            (r#"{"messages": [{"role": "tool", "content": "a"}]}"#, "messages"),
            (r#"{"messages": [{"role": "user", "content": "a"}], "temperature": "hot"}"#, "temperature"),
            (r#"{"messages": [{"role": "user", "content": "a"}], "temperature": 3}"#, "temperature"),
            (r#"{"messages": [{"role": "user", "content": "a"}], "n": 0}"#, "n"),
            (r#"{"messages": [{"role": "user", "content": "a"}], "n": 65}"#, "n"),
            (r#"{"messages": [{"role": "user", "content": "a"}], "max_tokens": -1}"#, "max_tokens"),
            (r#"{"messages": [{"role": "user", "content": "a"}], "stop": [""]}"#, "stop"),
            (r#"{"messages": [{"role": "user", "content": "a"}], "top_logprobs": 2}"#, "top_logprobs"),
            (r#"{"messages": [{"role": "user", "content": "a"}], "tools": [{}]}"#, "tools"),
            (
                r#"{"messages": [{"role": "user", "content": "a"}], "stream_options": {"include_usage": true}}"#,
                "stream_options",
            ),
        ];
        for (body, param) in cases {
            let e = chat(body).unwrap_err();
            assert_eq!(e.param.as_deref(), Some(param), "{body}: {}", e.message);
        }
        let e = parse(br#"{"prompt": [1, 2]}"#, Endpoint::Completion, 0).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("prompt"));
    }
}
