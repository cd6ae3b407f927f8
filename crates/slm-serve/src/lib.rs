//! `slm serve`: an OpenAI-compatible HTTP server over slm models.
//!
//! One engine thread owns the models (the base and each LoRA adapter, merged into its own copy of the base)
//! and runs continuous batching over each; the HTTP side (tokio + axum) parses requests, tokenizes their
//! prompts, queues them for the engine and turns its updates into JSON or server-sent events. The listener
//! is open while the models load (`/health` answers 503 until they are ready); SIGINT or SIGTERM stops
//! accepting connections, lets the requests in flight finish, and returns.

mod app;
mod completion;
mod engine;
mod error;
mod format;
mod metrics;
mod routes;
mod schema;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

pub use error::ServeError;
use slm_model::Backend;

/// How to serve.
#[derive(Debug, Clone)]
pub struct Config {
    /// The base model directory; served under its directory name.
    pub model: PathBuf,
    /// Adapters `(name, directory)`, served under their names.
    pub adapters: Vec<(String, PathBuf)>,
    /// The Burn backend.
    pub backend: Backend,
    /// Address to bind.
    pub host: String,
    /// Port to bind (0: any free port).
    pub port: u16,
    /// Most choices decoding together per model.
    pub max_batch: usize,
    /// Most choices waiting for a slot before requests get 429.
    pub max_queue: usize,
    /// Bearer token requests must carry.
    pub api_key: Option<String>,
}

/// The name a model directory is served under: its last path component.
pub fn model_name(dir: &std::path::Path) -> String {
    dir.canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "model".to_owned())
}

/// Serves until SIGINT or SIGTERM; `on_listening` gets the bound address once the port is open.
///
/// # Errors
/// The address cannot be bound, or a model fails to load.
pub fn run(config: Config, on_listening: impl FnOnce(std::net::SocketAddr)) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(serve(config, on_listening))
}

async fn serve(config: Config, on_listening: impl FnOnce(std::net::SocketAddr)) -> Result<(), ServeError> {
    let addr = format!("{}:{}", config.host, config.port);
    let listener =
        tokio::net::TcpListener::bind(&addr).await.map_err(|source| ServeError::Bind { addr: addr.clone(), source })?;
    let local = listener.local_addr().map_err(|source| ServeError::Bind { addr, source })?;
    let mut models = vec![(model_name(&config.model), config.model.clone())];
    models.extend(config.adapters.iter().cloned());
    let metrics = Arc::new(metrics::Metrics::default());
    let (jobs, queue) = std::sync::mpsc::channel();
    let (loaded_tx, loaded) = tokio::sync::oneshot::channel();
    let engine_metrics = metrics.clone();
    let (backend, max_batch) = (config.backend, config.max_batch.max(1));
    let engine = std::thread::Builder::new()
        .name("slm-engine".into())
        .spawn(move || engine::run(models, backend, max_batch, queue, engine_metrics, loaded_tx))
        .map_err(ServeError::Runtime)?;
    let app = Arc::new(app::App {
        models: std::sync::OnceLock::new(),
        jobs,
        metrics,
        max_queue: config.max_queue,
        api_key: config.api_key.clone(),
        counter: AtomicU64::new(0),
    });
    on_listening(local);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, routes::router(app.clone()))
        .with_graceful_shutdown(async move {
            tokio::select! {
                () = shutdown_signal() => {}
                _ = stop_rx => {}
            }
        })
        .into_future();
    let server = tokio::spawn(server);
    let load = match loaded.await {
        Ok(Ok(infos)) => {
            let _ = app.models.set(infos);
            Ok(())
        }
        Ok(Err(e)) => Err(ServeError::Load(e)),
        Err(_) => Err(ServeError::Load("the engine stopped while loading".to_owned())),
    };
    if load.is_err() {
        let _ = stop_tx.send(());
    } else {
        eprintln!("slm serve: ready");
    }
    let served = server.await.map_err(|e| ServeError::Runtime(std::io::Error::other(e)))?.map_err(ServeError::Runtime);
    // Every handler is done: dropping the last job sender lets the engine finish and return.
    drop(app);
    let _ = engine.join();
    load.and(served)
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
