//! `slm serve`: the OpenAI-compatible HTTP server.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::CliError;

/// Serve a model over an OpenAI-compatible HTTP API with continuous batching.
///
/// Endpoints: POST /v1/chat/completions, POST /v1/completions (streaming with `"stream": true`),
/// GET /v1/models, GET /health (503 while loading), GET /metrics (Prometheus), POST /tokenize,
/// POST /detokenize. A request's `model` picks the base model (served under its directory name) or an
/// adapter (under its --adapter name). Concurrent requests decode together, up to --max-batch choices per
/// model; beyond --max-queue waiting choices, requests get 429. SIGINT or SIGTERM lets the requests in
/// flight finish, then exits 0. The bound address is printed on stderr.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm serve --model runs/sms/final --port 8080
  slm serve --model SmolLM2-135M-Instruct --adapter summaries=runs/scitldr-lora/final --api-key \"$KEY\"
  curl -s localhost:8080/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{\"model\": \"summaries\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 32}'")]
pub struct Args {
    /// Base model directory (a LoRA adapter directory works too).
    #[arg(long)]
    model: PathBuf,
    /// A LoRA adapter to serve under NAME, as NAME=DIR (repeatable).
    #[arg(long, value_name = "NAME=DIR")]
    adapter: Vec<String>,
    /// Burn backend (ndarray and wgpu need the cargo features of those names).
    #[arg(long, value_enum, default_value_t)]
    backend: slm_model::Backend,
    /// Address to bind (127.0.0.1: this machine only).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to bind (0: any free port).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Most choices decoding together per model.
    #[arg(long, default_value_t = 16)]
    max_batch: usize,
    /// Most choices waiting for a batch slot; beyond it requests get 429.
    #[arg(long, default_value_t = 256)]
    max_queue: usize,
    /// Require `Authorization: Bearer KEY` (also read from SLM_API_KEY).
    #[arg(long, env = "SLM_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

/// Runs `slm serve`.
pub fn run(args: Args) -> Result<ExitCode, CliError> {
    if args.max_batch == 0 {
        return Err(CliError::Usage("--max-batch must be at least 1".into()));
    }
    let base = slm_serve::model_name(&args.model);
    let mut adapters: Vec<(String, PathBuf)> = Vec::new();
    for a in &args.adapter {
        let Some((name, dir)) = a.split_once('=').filter(|(n, d)| !n.is_empty() && !d.is_empty()) else {
            return Err(CliError::Usage(format!("--adapter {a}: expected NAME=DIR")));
        };
        if name == base || adapters.iter().any(|(n, _)| n == name) {
            return Err(CliError::Usage(format!("--adapter {a}: the name `{name}` is already served")));
        }
        adapters.push((name.to_owned(), PathBuf::from(dir)));
    }
    if args.api_key.as_deref() == Some("") {
        return Err(CliError::Usage("--api-key must not be empty".into()));
    }
    let config = slm_serve::Config {
        model: args.model,
        adapters,
        backend: args.backend,
        host: args.host,
        port: args.port,
        max_batch: args.max_batch,
        max_queue: args.max_queue,
        api_key: args.api_key,
    };
    slm_serve::run(config, |addr| eprintln!("slm serve: listening on http://{addr} (loading the model)"))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    eprintln!("slm serve: stopped");
    Ok(ExitCode::SUCCESS)
}
