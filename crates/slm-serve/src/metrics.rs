//! Counters, gauges and latency histograms of the server, written as Prometheus text at `GET /metrics`.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// A Prometheus histogram of durations.
#[derive(Default)]
pub struct Histogram {
    inner: Mutex<(Vec<u64>, f64, u64)>,
}

impl Histogram {
    /// Counts one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let mut h = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if h.0.is_empty() {
            h.0 = vec![0; BUCKETS.len()];
        }
        for (count, bound) in h.0.iter_mut().zip(BUCKETS) {
            if secs <= bound {
                *count += 1;
            }
        }
        h.1 += secs;
        h.2 += 1;
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        let h = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", h.0.get(i).copied().unwrap_or(0));
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}", h.2, h.1, h.2);
    }
}

/// Everything `/metrics` reports.
#[derive(Default)]
pub struct Metrics {
    /// Completion requests accepted (200).
    pub requests: AtomicU64,
    /// Requests answered with an error status.
    pub errors: AtomicU64,
    /// Requests refused because the queue was full (429).
    pub rejected: AtomicU64,
    /// Rows dropped because their client disconnected.
    pub cancelled: AtomicUsize,
    /// Prompt tokens of accepted requests.
    pub prompt_tokens: AtomicU64,
    /// Tokens generated.
    pub generated_tokens: AtomicU64,
    /// Rows waiting for a batch slot.
    pub queued: AtomicUsize,
    /// Rows in the running batches.
    pub batch_size: AtomicUsize,
    /// The most rows ever decoding together.
    pub batch_size_max: AtomicUsize,
    /// Engine loop turns (each one forward step per model with work).
    pub batch_steps: AtomicU64,
    /// From a request's arrival to its first token.
    pub time_to_first_token: Histogram,
    /// Between consecutive tokens of one choice.
    pub inter_token_latency: Histogram,
    /// From a request's arrival to its last token.
    pub request_duration: Histogram,
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters: [(&str, &str, u64); 7] = [
            ("slm_requests_total", "Completion requests served.", self.requests.load(Ordering::Relaxed)),
            ("slm_request_errors_total", "Requests answered with an error.", self.errors.load(Ordering::Relaxed)),
            (
                "slm_requests_rejected_total",
                "Requests refused with 429 (queue full).",
                self.rejected.load(Ordering::Relaxed),
            ),
            (
                "slm_cancelled_total",
                "Choices cancelled by a client disconnect.",
                self.cancelled.load(Ordering::Relaxed) as u64,
            ),
            ("slm_prompt_tokens_total", "Prompt tokens processed.", self.prompt_tokens.load(Ordering::Relaxed)),
            ("slm_generated_tokens_total", "Tokens generated.", self.generated_tokens.load(Ordering::Relaxed)),
            ("slm_batch_steps_total", "Engine steps.", self.batch_steps.load(Ordering::Relaxed)),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        }
        let gauges = [
            ("slm_queue_length", "Choices waiting for a batch slot.", self.queued.load(Ordering::Relaxed)),
            ("slm_batch_size", "Choices in the running batches.", self.batch_size.load(Ordering::Relaxed)),
            ("slm_batch_size_max", "Most choices ever decoding together.", self.batch_size_max.load(Ordering::Relaxed)),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        }
        self.time_to_first_token.write(&mut out, "slm_time_to_first_token_seconds", "Time to the first token.");
        self.inter_token_latency.write(&mut out, "slm_inter_token_latency_seconds", "Time between tokens.");
        self.request_duration.write(&mut out, "slm_request_duration_seconds", "Time to the last token.");
        out
    }
}
