//! `slm explain tokens`: how much each input token contributes to a classifier's label or to a language
//! model's continuation.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use slm_data::records::Reader;
use slm_explain::subject::{ModelKind, Subject, Target};
use slm_explain::tokens::{Attribution, Method, explain, write};
use slm_model::io::model_dir;

use crate::CliError;
use crate::flags::Given;
use crate::progress::Bar;

/// An attribution method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MethodName {
    /// Leave one token (or --window tokens) out: the score's drop.
    Occlusion,
    /// Embedding times the gradient of the score.
    InputXGradient,
    /// Integrated gradients from the pad token's embedding (--steps Gauss-Legendre points).
    IntegratedGradients,
    /// LIME: a weighted linear fit on random masks (--samples, --kernel-width, --seed).
    Lime,
    /// Kernel SHAP (--samples, --seed); exact Shapley values for at most 12 tokens.
    KernelShap,
}

/// Attribute a score to the input tokens.
///
/// For a classifier the score is the logit of --target LABEL (default: the predicted label); for a causal
/// language model, the log-probability of each token of --target-text after the input, under teacher
/// forcing (default: the model's greedy continuation of --max-new-tokens): one row of attributions per
/// target token. A perturbed token is replaced by the pad token. Prints a readable summary, or with
/// --json one object (`method`, `model_kind`, `input_tokens`, `targets`, `attributions`,
/// `baseline_token`, `baseline_score`, `convergence_delta` for integrated gradients, `exact` for kernel SHAP, and
/// `faithfulness`: ERASER's comprehensiveness and sufficiency of the top 10/20/50% tokens); --out DIR
/// writes attribution.json, attribution.html and, for a language model, attribution.png. With --input,
/// one JSON line per record on stdout.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm explain tokens --model runs/sms-spam-classify/final --text 'WINNER! Claim your free prize' --method kernel-shap
  slm explain tokens --model smollm2 --text 'The capital of France is' --target-text ' Paris' \\
      --method integrated-gradients --steps 32 --out explain/paris
  slm explain tokens --model runs/sms-spam-classify/final --input val.jsonl --method occlusion > attributions.jsonl")]
pub struct Args {
    /// Model directory (a classifier or a causal LM; a LoRA adapter directory works too).
    #[arg(long)]
    model: PathBuf,
    /// Burn backend (ndarray and wgpu need the cargo features of those names).
    #[arg(long, value_enum, default_value_t)]
    backend: slm_model::Backend,
    /// The text to explain.
    #[arg(long, conflicts_with = "input", required_unless_present = "input")]
    text: Option<String>,
    /// JSONL (or CSV/TSV/text) file of texts: one JSON line per record on stdout.
    #[arg(long, conflicts_with = "out")]
    input: Option<PathBuf>,
    /// The text field of --input records.
    #[arg(long, default_value = "text")]
    field: String,
    /// The attribution method.
    #[arg(long, value_enum)]
    method: MethodName,
    /// A classifier's label to explain (default: the predicted one).
    #[arg(long, conflicts_with = "target_text")]
    target: Option<String>,
    /// A causal LM's continuation to explain (default: its greedy continuation).
    #[arg(long)]
    target_text: Option<String>,
    /// Tokens of the greedy continuation explained when there is no --target-text.
    #[arg(long, default_value_t = 8)]
    max_new_tokens: usize,
    /// Occlusion: tokens hidden together.
    #[arg(long, default_value_t = 1)]
    window: usize,
    /// Integrated gradients: quadrature points.
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// LIME and kernel SHAP: perturbed inputs evaluated.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// LIME: width of the exponential kernel on the cosine distance.
    #[arg(long, default_value_t = 1.0)]
    kernel_width: f64,
    /// LIME and kernel SHAP: seed of the random masks.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
    /// Also write attribution.json, attribution.html and (causal LM) attribution.png into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace an existing --out.
    #[arg(long)]
    force: bool,
}

/// Runs `slm explain tokens`.
pub fn run(args: Args, given: &Given) -> Result<ExitCode, CliError> {
    let method = method(&args, given)?;
    if args.text.is_some() {
        given.refuse(&["field"], "--text (it goes with --input)")?;
    } else {
        given.refuse(&["json"], "--input (it always prints JSON lines)")?;
    }
    if args.out.is_none() {
        given.refuse(&["force"], "no --out")?;
    }
    if args.window == 0 || args.steps == 0 || args.samples == 0 || args.max_new_tokens == 0 {
        return Err(CliError::Usage("--window, --steps, --samples and --max-new-tokens must be at least 1".into()));
    }
    if !(args.kernel_width > 0.0 && args.kernel_width.is_finite()) {
        return Err(CliError::Usage(format!("--kernel-width must be > 0, got {}", args.kernel_width)));
    }
    if let Some(out) = &args.out {
        model_dir::refuse_existing(out, args.force)?;
    }
    let subject = Subject::load(&args.model, &args.backend.device()?)?;
    let target = match subject.kind() {
        ModelKind::Classifier => {
            given.refuse(&["target_text", "max_new_tokens"], "a classifier (explain a label with --target)")?;
            Target::Label(args.target.clone())
        }
        ModelKind::CausalLm => {
            if args.target.is_some() {
                return Err(CliError::Usage(
                    "--target LABEL needs a model with a classification head; for a language model use --target-text"
                        .into(),
                ));
            }
            if args.target_text.is_some() {
                given.refuse(&["max_new_tokens"], "--target-text")?;
            }
            Target::Text(args.target_text.clone(), args.max_new_tokens)
        }
    };
    let mut stdout = std::io::stdout().lock();
    match (&args.text, &args.input) {
        (Some(text), _) => {
            let attribution = explain(&subject, text, &target, &method)?;
            if args.json {
                writeln!(stdout, "{}", attribution.to_json())?;
            } else {
                summary(&mut stdout, &attribution)?;
            }
            if let Some(out) = &args.out {
                let staging = model_dir::staging_dir(out)?;
                write(&attribution, &format!("{}: {}", args.model.display(), method.name()), staging.path())?;
                model_dir::publish(staging, out)?;
                eprintln!("attributions written to {}", out.display());
            }
        }
        (None, Some(input)) => {
            let mut reader = Reader::open(input)?;
            let path = reader.path().to_owned();
            let bar = Bar::counting(std::fs::metadata(&path).map_or(0, |m| m.len()), "bytes");
            for record in reader.by_ref() {
                let record = record?;
                let text = record.require(&path, &args.field)?;
                let attribution = explain(&subject, &text, &target, &method)
                    .map_err(|e| CliError::Usage(format!("{}:{}: {e}", path.display(), record.line)))?;
                writeln!(stdout, "{}", attribution.to_json())?;
                bar.set_position(record.span.1);
            }
            bar.finish();
        }
        (None, None) => unreachable!("clap requires --text or --input"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The method with its settings; settings of other methods are refused.
fn method(args: &Args, given: &Given) -> Result<Method, CliError> {
    let all = ["window", "steps", "samples", "kernel_width", "seed"];
    let (method, used): (Method, &[&str]) = match args.method {
        MethodName::Occlusion => (Method::Occlusion { window: args.window }, &["window"]),
        MethodName::InputXGradient => (Method::InputXGradient, &[]),
        MethodName::IntegratedGradients => (Method::IntegratedGradients { steps: args.steps }, &["steps"]),
        MethodName::Lime => (
            Method::Lime { samples: args.samples, kernel_width: args.kernel_width, seed: args.seed },
            &["samples", "kernel_width", "seed"],
        ),
        MethodName::KernelShap => (Method::KernelShap { samples: args.samples, seed: args.seed }, &["samples", "seed"]),
    };
    let other: Vec<&str> = all.iter().copied().filter(|f| !used.contains(f)).collect();
    given.refuse(&other, &format!("--method {}", method.name()))?;
    Ok(method)
}

/// Per target: its text and score, then the input tokens with their attributions, largest first.
fn summary(out: &mut impl Write, a: &Attribution) -> std::io::Result<()> {
    for (j, ((text, score), row)) in a.targets.iter().zip(&a.attributions).enumerate() {
        writeln!(out, "target {}: {text:?} (score {score:.4}, baseline {:.4})", j + 1, a.baseline_score[j])?;
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|&x, &y| row[y].abs().total_cmp(&row[x].abs()));
        for i in order.into_iter().take(10) {
            writeln!(out, "  {:>+10.4}  {:?}", row[i], a.input_tokens[i])?;
        }
    }
    if let Some(delta) = &a.convergence_delta {
        writeln!(out, "convergence delta: {delta:?}")?;
    }
    let f = a.faithfulness;
    writeln!(out, "faithfulness: comprehensiveness {:.4}, sufficiency {:.4}", f.comprehensiveness, f.sufficiency)
}
