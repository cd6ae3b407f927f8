//! `slm eval`: score predictions; optionally gate them against a baseline.

mod classify;
mod code;
mod gate;
mod perplexity;
mod text;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

use crate::CliError;
use crate::flags::Given;

/// The metrics of `slm eval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Metric {
    /// Corpus BLEU, as sacrebleu.
    Bleu,
    /// chrF / chrF++, as sacrebleu.
    Chrf,
    /// ROUGE-N, ROUGE-L and ROUGE-Lsum, as rouge-score.
    Rouge,
    /// Classification accuracy.
    Accuracy,
    /// Per-class and macro F1 (with accuracy).
    F1,
    /// Functional correctness of generated code, run in a sandbox.
    #[value(name = "pass@k")]
    PassAtK,
    /// Cyclomatic complexity of generated code (as radon's cc).
    Complexity,
    /// Perplexity of a model on a text.
    Perplexity,
}

impl Metric {
    /// Its name, as `--metric` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Bleu => "bleu",
            Metric::Chrf => "chrf",
            Metric::Rouge => "rouge",
            Metric::Accuracy => "accuracy",
            Metric::F1 => "f1",
            Metric::PassAtK => "pass@k",
            Metric::Complexity => "complexity",
            Metric::Perplexity => "perplexity",
        }
    }

    /// The flags of [`Args`] that this metric reads (besides those of every metric: --metric, --json and
    /// the gate's).
    fn flags(self) -> &'static [&'static str] {
        match self {
            Metric::Bleu => &["hyp", "refs", "tokenize", "lowercase", "smooth", "smooth_value", "sentence"],
            Metric::Chrf => &["hyp", "refs", "lowercase", "word_order", "sentence"],
            Metric::Rouge => &["hyp", "refs", "tokenize", "stemmer", "types"],
            Metric::Accuracy | Metric::F1 => &["pred", "gold", "pred_field", "gold_field"],
            Metric::PassAtK => &[
                "problems",
                "samples",
                "k",
                "timeout",
                "memory_mb",
                "jobs",
                "python",
                "allow_code_execution",
                "allow_unsandboxed",
                "details",
            ],
            Metric::Complexity => &["samples", "problems"],
            Metric::Perplexity => &["model", "backend", "data", "data_field", "window", "stride", "reference_model"],
        }
    }
}

/// Evaluate predictions: BLEU, chrF and ROUGE (identical to sacrebleu and rouge-score), accuracy/F1,
/// pass@k (sandboxed), code complexity, perplexity; and gate the scores against a baseline for CI.
///
/// Text files hold one segment per line. For ROUGE-Lsum, sentences inside a segment are separated by a
/// literal backslash-n; a JSONL file with `hyp` and `ref` fields can replace both files.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm eval --metric bleu --hyp hyp.txt --ref ref.txt
  slm eval --metric bleu --hyp hyp.txt --ref ref1.txt --ref ref2.txt --tokenize intl --json
  slm eval --metric chrf --word-order 2 --hyp hyp.txt --ref ref.txt
  slm eval --metric rouge --stemmer --hyp pred.txt --ref ref.txt --types rouge1,rougeLsum
  slm eval --metric f1 --pred pred.txt --gold gold.txt
  slm eval --metric pass@k --problems humaneval.jsonl --samples samples.jsonl --k 1,10 --allow-code-execution
  slm eval --metric complexity --samples samples.jsonl --problems humaneval.jsonl
  slm eval --metric perplexity --model models/smollm2 --data val.txt --window 512
  slm eval --metric rouge --hyp pred.txt --ref ref.txt --baseline base.json --tolerance 0.01

Exit codes: 0 ok, 1 a score fell below the baseline, 2 bad usage or input.")]
pub struct Args {
    /// The metric.
    #[arg(long, value_enum)]
    metric: Metric,
    /// Hypotheses: one segment per line (or JSONL with `hyp` and `ref`).
    #[arg(long)]
    hyp: Option<PathBuf>,
    /// References, one segment per line; repeat for several references.
    #[arg(long = "ref", value_name = "FILE")]
    refs: Vec<PathBuf>,
    /// BLEU: 13a (default), intl, zh, char, none. ROUGE: default, char, zh.
    #[arg(long, value_enum)]
    tokenize: Option<text::Tokenize>,
    /// Lowercase before scoring (BLEU, chrF).
    #[arg(long)]
    lowercase: bool,
    /// BLEU smoothing.
    #[arg(long, value_enum, default_value_t = text::SmoothArg::Exp)]
    smooth: text::SmoothArg,
    /// Value for floor (default 0.1) or add-k (default 1) smoothing.
    #[arg(long)]
    smooth_value: Option<f64>,
    /// Print one score per segment (BLEU with effective order, chrF).
    #[arg(long)]
    sentence: bool,
    /// chrF word n-gram order: 0 (chrF) or 2 (chrF++).
    #[arg(long, default_value_t = 0)]
    word_order: usize,
    /// ROUGE: Porter-stem tokens (as rouge-score's use_stemmer).
    #[arg(long)]
    stemmer: bool,
    /// ROUGE types, comma-separated.
    #[arg(long, default_value = "rouge1,rouge2,rougeL,rougeLsum")]
    types: String,
    /// Classification predictions: one label per line, or JSONL.
    #[arg(long)]
    pred: Option<PathBuf>,
    /// Gold labels: one per line, or JSONL.
    #[arg(long)]
    gold: Option<PathBuf>,
    /// JSONL field of the predicted label.
    #[arg(long, default_value = "pred")]
    pred_field: String,
    /// JSONL field of the gold label.
    #[arg(long, default_value = "label")]
    gold_field: String,
    /// Code problems (HumanEval or MBPP JSONL).
    #[arg(long)]
    problems: Option<PathBuf>,
    /// Code samples: JSONL with task_id and completion.
    #[arg(long)]
    samples: Option<PathBuf>,
    /// pass@k values, comma-separated.
    #[arg(long, default_value = "1")]
    k: String,
    /// Wall-clock limit per sample, seconds.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Memory limit per sample, MiB.
    #[arg(long, default_value_t = 2048)]
    memory_mb: u64,
    /// Parallel samples (default: the number of cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Python interpreter for pass@k (default: /usr/bin/python3 if present, else python3 on PATH).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Required for pass@k: you accept running untrusted generated code in the sandbox.
    #[arg(long)]
    allow_code_execution: bool,
    /// Run with resource limits only where namespaces cannot be created (no network isolation).
    #[arg(long)]
    allow_unsandboxed: bool,
    /// pass@k: write per-problem results (JSONL) here.
    #[arg(long)]
    details: Option<PathBuf>,
    /// Perplexity: also report KL(reference ‖ model) of next-token distributions against this model
    /// directory (e.g. the f32 model of a quantized one).
    #[arg(long, value_name = "DIR")]
    reference_model: Option<PathBuf>,
    /// Perplexity: model directory.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Perplexity: the Burn backend that runs the model (ndarray and wgpu need the cargo features of
    /// those names).
    #[arg(long, value_enum, default_value_t)]
    backend: slm_model::Backend,
    /// Perplexity: text to score (plain text, one document per line, or JSONL/CSV with --data-field).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Perplexity: the text field of --data records.
    #[arg(long, default_value = "text")]
    data_field: String,
    /// Perplexity: tokens per scoring window (capped at the model's context).
    #[arg(long, default_value_t = 1024)]
    window: usize,
    /// Perplexity: tokens the window advances by (default: half the window).
    #[arg(long)]
    stride: Option<usize>,
    /// Compare with this baseline JSON (from --save-baseline or --json).
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Allowed absolute drop of any score before the gate fails.
    #[arg(long, conflicts_with = "tolerance_pct")]
    tolerance: Option<f64>,
    /// Allowed drop as a percentage of the baseline score.
    #[arg(long)]
    tolerance_pct: Option<f64>,
    /// Write the scores as a baseline JSON file.
    #[arg(long)]
    save_baseline: Option<PathBuf>,
    /// Overwrite an existing --save-baseline or --details file.
    #[arg(long)]
    force: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// A metric's result: the JSON object and its human rendering.
pub struct Report {
    json: Value,
    human: String,
}

pub fn run(args: Args, given: &Given) -> Result<ExitCode, CliError> {
    // The flags of the other metrics.
    let foreign: Vec<&str> = <Metric as clap::ValueEnum>::value_variants()
        .iter()
        .flat_map(|m| m.flags())
        .copied()
        .filter(|f| !args.metric.flags().contains(f))
        .collect();
    given.refuse(&foreign, &format!("--metric {}", args.metric.name()))?;
    if args.save_baseline.is_none() && args.details.is_none() {
        given.refuse(&["force"], "eval without --save-baseline or --details")?;
    }
    if args.baseline.is_none() {
        given.refuse(&["tolerance", "tolerance_pct"], "eval without --baseline")?;
    }
    let report = match args.metric {
        Metric::Bleu => text::bleu(&args)?,
        Metric::Chrf => text::chrf(&args)?,
        Metric::Rouge => text::rouge(&args)?,
        Metric::Accuracy | Metric::F1 => classify::run(&args)?,
        Metric::PassAtK => code::pass_at_k(&args)?,
        Metric::Complexity => code::complexity(&args)?,
        Metric::Perplexity => perplexity::run(&args)?,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", report.json)?;
    } else {
        write!(out, "{}", report.human)?;
    }
    if let Some(path) = &args.save_baseline {
        gate::save(path, &report.json, args.force)?;
    }
    match &args.baseline {
        Some(path) => gate::check(path, &report.json, &args),
        None => Ok(ExitCode::SUCCESS),
    }
}

fn need<'a>(v: &'a Option<PathBuf>, flag: &str, metric: &str) -> Result<&'a PathBuf, CliError> {
    v.as_ref().ok_or_else(|| CliError::Usage(format!("--metric {metric} needs {flag}")))
}
