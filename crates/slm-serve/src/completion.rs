//! `POST /v1/chat/completions` and `POST /v1/completions`: a request is parsed, its prompts rendered and
//! tokenized, its choices queued for the engine as one job, and the engine's updates turned into one JSON
//! answer or a stream of server-sent events. A client that goes away drops the update channel, which
//! cancels its rows at the engine's next token.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::Value;
use slm_model::generate::batch::{Finish, Request, TokenOut};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::app::App;
use crate::engine::{ChoiceUpdate, Job};
use crate::error::ApiError;
use crate::format::{Head, usage};
use crate::schema::{Endpoint, Input, Parsed, parse};

/// `POST /v1/chat/completions`.
pub async fn chat(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Response {
    complete(app, body, Endpoint::Chat).await
}

/// `POST /v1/completions`.
pub async fn completions(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Response {
    complete(app, body, Endpoint::Completion).await
}

async fn complete(app: Arc<App>, body: Result<Bytes, BytesRejection>, endpoint: Endpoint) -> Response {
    match submit(&app, body, endpoint) {
        Ok(job) if job.stream => stream(job),
        Ok(job) => whole(job).await,
        Err(e) => {
            app.metrics.errors.fetch_add(1, Ordering::Relaxed);
            e.into_response()
        }
    }
}

/// A job handed to the engine, seen from the HTTP side.
struct Submitted {
    head: Head,
    updates: UnboundedReceiver<ChoiceUpdate>,
    progress: Progress,
    stream: bool,
    include_usage: bool,
    prompt_tokens: usize,
}

fn submit(app: &App, body: Result<Bytes, BytesRejection>, endpoint: Endpoint) -> Result<Submitted, ApiError> {
    let body = body.map_err(|e| ApiError::status(e.status(), e.body_text()))?;
    let models = app.models()?;
    let seq = app.counter.fetch_add(1, Ordering::Relaxed);
    let fresh_seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64) ^ seq;
    let (parsed, ignored) = parse(&body, endpoint, fresh_seed)?;
    if !ignored.is_empty() {
        eprintln!("slm serve: ignored unknown request fields: {}", ignored.join(", "));
    }
    let Parsed { model, input, max_tokens, sampling, stop, n, logprobs, stream, include_usage } = parsed;
    let (index, info) = match &model {
        None => (0, &models[0]),
        Some(name) => models.iter().enumerate().find(|(_, m)| &m.name == name).ok_or_else(|| {
            let known: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
            ApiError::status(
                StatusCode::NOT_FOUND,
                format!("model `{name}` is not served; known: {}", known.join(", ")),
            )
            .with_code("model_not_found")
        })?,
    };
    let (texts, param) = match input {
        Input::Messages(messages) => {
            let template = info.template.as_ref().ok_or_else(|| {
                ApiError::invalid(
                    "messages",
                    format!("model `{}` has no chat template; use /v1/completions", info.name),
                )
            })?;
            let text = template.render(&messages, true).map_err(|e| ApiError::invalid("messages", e.to_string()))?;
            (vec![text], "messages")
        }
        Input::Prompts(prompts) => (prompts, "prompt"),
    };
    let mut rows = Vec::with_capacity(texts.len() * n);
    let mut prompt_tokens = 0;
    for text in &texts {
        let ids = info
            .tokenizer
            .encode(text.as_str(), false)
            .map_err(|e| ApiError::invalid(param, format!("the prompt cannot be tokenized: {e}")))?
            .get_ids()
            .to_vec();
        if ids.is_empty() {
            return Err(ApiError::invalid(param, "the prompt is empty"));
        }
        if ids.len() >= info.context {
            let message = format!(
                "the prompt has {} tokens; model `{}` has a context of {} tokens",
                ids.len(),
                info.name,
                info.context
            );
            return Err(ApiError::invalid(param, message).with_code("context_length_exceeded"));
        }
        prompt_tokens += ids.len();
        let room = info.context - ids.len();
        for choice in 0..n {
            let mut sampling = sampling.clone();
            sampling.seed = sampling.seed.wrapping_add(choice as u64);
            let request = Request {
                prompt: ids.clone(),
                max_new_tokens: max_tokens.unwrap_or(room),
                sampling,
                stop: stop.clone(),
                logprobs,
            };
            rows.push(request);
        }
    }
    let choices = rows.len();
    let queued = app
        .metrics
        .queued
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| (q + choices <= app.max_queue).then_some(q + choices));
    if queued.is_err() {
        app.metrics.rejected.fetch_add(1, Ordering::Relaxed);
        let message = format!("the server's queue is full ({} choices waiting); retry later", app.max_queue);
        return Err(ApiError::status(StatusCode::TOO_MANY_REQUESTS, message));
    }
    let (tx, updates) = tokio::sync::mpsc::unbounded_channel();
    let job = Job { model: index, rows, updates: tx };
    if app.jobs.send(job).is_err() {
        app.metrics.queued.fetch_sub(choices, Ordering::Relaxed);
        return Err(ApiError::status(StatusCode::SERVICE_UNAVAILABLE, "the engine has stopped"));
    }
    app.metrics.prompt_tokens.fetch_add(prompt_tokens as u64, Ordering::Relaxed);
    let prefix = if endpoint == Endpoint::Chat { "chatcmpl" } else { "cmpl" };
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let head = Head {
        id: format!("{prefix}-{seq:016x}"),
        created,
        model: info.name.clone(),
        endpoint,
        logprobs: logprobs.is_some(),
    };
    let progress = Progress::new(choices, app.metrics.clone());
    Ok(Submitted { head, updates, progress, stream, include_usage, prompt_tokens })
}

/// Each choice's text, tokens and finish so far, and the latencies of the request.
struct Progress {
    text: Vec<String>,
    tokens: Vec<Vec<TokenOut>>,
    finish: Vec<Option<Finish>>,
    last_token: Vec<Option<Instant>>,
    started: Instant,
    first_token: bool,
    metrics: Arc<crate::metrics::Metrics>,
}

impl Progress {
    fn new(choices: usize, metrics: Arc<crate::metrics::Metrics>) -> Progress {
        Progress {
            text: vec![String::new(); choices],
            tokens: vec![Vec::new(); choices],
            finish: vec![None; choices],
            last_token: vec![None; choices],
            started: Instant::now(),
            first_token: false,
            metrics,
        }
    }

    fn record(&mut self, u: &ChoiceUpdate) {
        let i = u.key.choice;
        let now = Instant::now();
        if u.token.is_some() {
            if !self.first_token {
                self.first_token = true;
                self.metrics.time_to_first_token.observe(now - self.started);
            }
            if let Some(last) = self.last_token[i] {
                self.metrics.inter_token_latency.observe(now - last);
            }
            self.last_token[i] = Some(now);
            self.metrics.generated_tokens.fetch_add(1, Ordering::Relaxed);
        }
        self.text[i].push_str(&u.delta);
        self.tokens[i].extend(u.token.clone());
        self.finish[i] = u.finish;
        if self.done() {
            self.metrics.request_duration.observe(now - self.started);
            self.metrics.requests.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn done(&self) -> bool {
        self.finish.iter().all(Option::is_some)
    }

    fn completion_tokens(&self) -> usize {
        self.tokens.iter().map(Vec::len).sum()
    }
}

async fn whole(mut job: Submitted) -> Response {
    while !job.progress.done() {
        let Some(u) = job.updates.recv().await else {
            return ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "the engine stopped").into_response();
        };
        job.progress.record(&u);
    }
    let p = &mut job.progress;
    let usage = usage(job.prompt_tokens, p.completion_tokens());
    let choices: Vec<(String, Vec<TokenOut>, Finish)> = (0..p.text.len())
        .map(|i| {
            (std::mem::take(&mut p.text[i]), std::mem::take(&mut p.tokens[i]), p.finish[i].unwrap_or(Finish::Stop))
        })
        .collect();
    axum::Json(job.head.response(&choices, usage)).into_response()
}

/// `data: JSON` events as OpenAI streams them, then `data: [DONE]`.
fn stream(job: Submitted) -> Response {
    let opening: Vec<Value> = match job.head.endpoint {
        Endpoint::Chat => (0..job.progress.text.len()).map(|i| job.head.role_chunk(i)).collect(),
        Endpoint::Completion => Vec::new(),
    };
    let first = Bytes::from(events(&job, opening));
    let rest = futures_util::stream::unfold(Some(job), |state| async move {
        let mut job = state?;
        if job.progress.done() {
            let mut chunks = Vec::new();
            if job.include_usage {
                chunks.push(job.head.usage_chunk(usage(job.prompt_tokens, job.progress.completion_tokens())));
            }
            let mut text = events(&job, chunks);
            text.push_str("data: [DONE]\n\n");
            return Some((Ok::<_, Infallible>(Bytes::from(text)), None));
        }
        let Some(u) = job.updates.recv().await else {
            // The engine went away: end the stream without [DONE], so the client sees it was cut.
            return None;
        };
        let i = u.key.choice;
        let offset = job.progress.text[i].chars().count();
        job.progress.record(&u);
        let mut chunks = Vec::new();
        let tokens: Vec<TokenOut> = u.token.iter().cloned().collect();
        if !u.delta.is_empty() || (job.head.logprobs && !tokens.is_empty()) {
            chunks.push(job.head.content_chunk(i, &u.delta, &tokens, offset));
        }
        if let Some(finish) = u.finish {
            chunks.push(job.head.finish_chunk(i, finish));
        }
        let text = events(&job, chunks);
        Some((Ok(Bytes::from(text)), Some(job)))
    });
    let body = futures_util::stream::once(async move { Ok::<_, Infallible>(first) }).chain(rest);
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Server-sent events for `chunks`; with `include_usage`, each chunk carries `"usage": null` as OpenAI's do.
fn events(job: &Submitted, chunks: Vec<Value>) -> String {
    chunks
        .into_iter()
        .map(|mut c| {
            if job.include_usage && c.get("usage").is_none() {
                c["usage"] = Value::Null;
            }
            format!("data: {c}\n\n")
        })
        .collect()
}
