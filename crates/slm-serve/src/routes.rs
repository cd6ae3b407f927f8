//! The router: the OpenAI endpoints, llama.cpp's `/health`, `/metrics`, `/tokenize` and `/detokenize`,
//! Bearer authentication when a key is set, a body size limit, and OpenAI-shaped errors for unknown paths
//! and methods.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::app::{App, MAX_BODY_BYTES};
use crate::completion;
use crate::engine::ModelInfo;
use crate::error::ApiError;

/// The router over `app`.
pub fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/v1/chat/completions", post(completion::chat))
        .route("/v1/completions", post(completion::completions))
        .route("/v1/models", get(models))
        .route("/tokenize", post(tokenize))
        .route("/detokenize", post(detokenize))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(app.clone(), authenticate));
    Router::new()
        .route("/health", get(health))
        .merge(api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app)
}

/// Refuses requests without `Authorization: Bearer KEY` when a key is set (compared in constant time).
async fn authenticate(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    if let Some(key) = &app.api_key {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !same(given.as_bytes(), key.as_bytes()) {
            app.metrics.errors.fetch_add(1, Ordering::Relaxed);
            return ApiError::status(StatusCode::UNAUTHORIZED, "a valid API key is needed: Authorization: Bearer KEY")
                .with_code("invalid_api_key")
                .into_response();
        }
    }
    next.run(request).await
}

/// Equality whose time depends only on the lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn health(State(app): State<Arc<App>>) -> Response {
    match app.models() {
        Ok(_) => axum::Json(json!({"status": "ok"})).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn models(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let data: Vec<Value> = app
        .models()?
        .iter()
        .map(|m| json!({"id": m.name, "object": "model", "created": 0, "owned_by": "slm", "context_length": m.context}))
        .collect();
    Ok(axum::Json(json!({"object": "list", "data": data})).into_response())
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render()).into_response()
}

/// The model a `/tokenize` or `/detokenize` body names (`model`, default the base).
fn body_and_model(app: &App, body: Result<Bytes, BytesRejection>) -> Result<(Value, &ModelInfo), ApiError> {
    let body = body.map_err(|e| ApiError::status(e.status(), e.body_text()))?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid("body", format!("the body is not valid JSON: {e}")))?;
    let models = app.models()?;
    let model = match v.get("model").and_then(Value::as_str) {
        None => &models[0],
        Some(name) => models.iter().find(|m| m.name == name).ok_or_else(|| {
            ApiError::status(StatusCode::NOT_FOUND, format!("model `{name}` is not served"))
                .with_code("model_not_found")
        })?,
    };
    Ok((v, model))
}

/// `{"content": TEXT, "add_special": false}` → `{"tokens": [ids]}`.
async fn tokenize(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let (v, model) = body_and_model(&app, body)?;
    let content = v["content"].as_str().ok_or_else(|| ApiError::invalid("content", "`content` must be a string"))?;
    let special = v.get("add_special").and_then(Value::as_bool).unwrap_or(false);
    let ids = model
        .tokenizer
        .encode(content, special)
        .map_err(|e| ApiError::invalid("content", format!("cannot tokenize: {e}")))?
        .get_ids()
        .to_vec();
    Ok(axum::Json(json!({"tokens": ids})).into_response())
}

/// `{"tokens": [ids]}` → `{"content": TEXT}`.
async fn detokenize(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let (v, model) = body_and_model(&app, body)?;
    let bad = || ApiError::invalid("tokens", "`tokens` must be a list of token ids of the model's vocabulary");
    let ids: Vec<u32> = v["tokens"]
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|t| t.as_u64().and_then(|t| u32::try_from(t).ok()).ok_or_else(bad))
        .collect::<Result<_, _>>()?;
    let vocab = model.tokenizer.get_vocab_size(true);
    if ids.iter().any(|&id| id as usize >= vocab) {
        return Err(bad());
    }
    let content = model.tokenizer.decode(&ids, false).map_err(|_| bad())?;
    Ok(axum::Json(json!({"content": content})).into_response())
}

async fn not_found(request: Request) -> ApiError {
    ApiError::status(StatusCode::NOT_FOUND, format!("no endpoint at {}", request.uri().path()))
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::status(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} is not allowed at {}", request.method(), request.uri().path()),
    )
}
