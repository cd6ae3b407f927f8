//! What every handler shares: the loaded models, the engine's queue, the counters and the limits.

use std::sync::atomic::AtomicU64;
use std::sync::mpsc::Sender;
use std::sync::{Arc, OnceLock};

use axum::http::StatusCode;

use crate::engine::{Job, ModelInfo};
use crate::error::ApiError;
use crate::metrics::Metrics;

/// Largest request body accepted (bigger: 413).
pub const MAX_BODY_BYTES: usize = 4 << 20;

/// What every handler shares.
pub struct App {
    /// The served models once loaded (base first, then adapters).
    pub models: OnceLock<Vec<ModelInfo>>,
    /// The engine's job queue.
    pub jobs: Sender<Job>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Most choices waiting for a batch slot before requests get 429.
    pub max_queue: usize,
    /// The Bearer token requests must carry, if any.
    pub api_key: Option<String>,
    /// Numbers request ids.
    pub counter: AtomicU64,
}

impl App {
    /// The loaded models, or 503 while loading.
    pub fn models(&self) -> Result<&[ModelInfo], ApiError> {
        self.models
            .get()
            .map(Vec::as_slice)
            .ok_or_else(|| ApiError::status(StatusCode::SERVICE_UNAVAILABLE, "the model is loading"))
    }
}
