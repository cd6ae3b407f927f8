//! `slm train`: run a recipe, with a live progress bar (plain log lines when stderr is not a terminal).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use slm_train::trainer::{EvalLog, StepLog};
use slm_train::{Observer, Recipe, RunOptions};

use crate::CliError;
use crate::progress::Bar;

/// Train or fine-tune a model from a TOML recipe (docs/recipes.md lists every key and its default).
///
/// The run directory (`out` in the recipe, or --out) receives recipe.resolved.toml, metrics.csv,
/// checkpoints/step-N/ (model, optimizer, data cursor), best/ and final/ (Hugging Face model
/// directories for `slm generate`, `slm eval` and transformers; PEFT adapter directories for a recipe
/// with a `[lora]` section). A `[distill]` section trains against a teacher model's distributions.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  slm train recipes/shakespeare-char.toml
  slm train recipes/tiny-ci.toml --set optimizer.lr=1e-3 --set train.max_steps=50 --out runs/try
  slm train --resume runs/shakespeare-char
  slm train recipes/scitldr-smollm2-lora.toml
  slm train recipes/dolly-distill.toml --set distill.alpha=0 --out runs/dolly-labels
  slm plot runs/shakespeare-char/metrics.csv --out curves.png")]
pub struct Args {
    /// The recipe (optional with --resume: the run's recipe.resolved.toml is used).
    recipe: Option<PathBuf>,
    /// Override a recipe key, e.g. `--set optimizer.lr=1e-4` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Continue the run in this directory from its newest checkpoint.
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
    /// Run directory (overrides the recipe's `out`).
    #[arg(long, value_name = "RUN_DIR")]
    out: Option<PathBuf>,
    /// Burn backend (default: the recipe's, else flex; ndarray and wgpu need the cargo features of those
    /// names).
    #[arg(long, value_enum)]
    backend: Option<slm_model::Backend>,
    /// Replace an existing run directory.
    #[arg(long)]
    force: bool,
    /// Stop after this step with a checkpoint, as if interrupted (`--resume` continues).
    #[arg(long, value_name = "STEP")]
    stop_after: Option<u64>,
    /// Print a JSON summary of the run to stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let mut overrides = args.set.clone();
    let run_dir = args.out.clone().or_else(|| args.resume.clone());
    if let Some(out) = &run_dir {
        overrides.push(format!("out={}", toml_string(&out.display().to_string())));
    }
    if let Some(backend) = &args.backend {
        overrides.push(format!("backend={}", toml_string(backend.name())));
    }
    let recipe_path = match (&args.recipe, &args.resume) {
        (Some(r), _) => r.clone(),
        (None, Some(run)) => run.join("recipe.resolved.toml"),
        (None, None) => return Err(CliError::Usage("give a recipe, or --resume RUN_DIR".into())),
    };
    let recipe = Recipe::load(&recipe_path, &overrides)?;
    let opts = RunOptions { resume: args.resume.is_some(), overwrite: args.force, stop_after: args.stop_after };
    let mut view = View::new();
    let summary = if recipe.self_training.is_some() {
        if opts.resume || opts.stop_after.is_some() {
            return Err(CliError::Usage(
                "--resume and --stop-after do not apply to a [self_training] recipe (its rounds are whole runs)".into(),
            ));
        }
        let (rounds, summary) = slm_train::self_training::self_train(&recipe, &opts, &mut view)?;
        let kept: Vec<String> = rounds.iter().filter(|r| r.kept).map(|r| r.round.to_string()).collect();
        eprintln!(
            "self-training: {} rounds, best score {:.4} (rounds kept: {}); see {}",
            rounds.len(),
            summary.best_metric.unwrap_or(f64::NAN),
            kept.join(", "),
            recipe.out.join("self_training.csv").display()
        );
        summary
    } else {
        slm_train::train(&recipe, &opts, &mut view)?
    };
    view.finish();
    if args.json {
        let json = serde_json::json!({
            "metric": "train",
            "run": summary.run.display().to_string(),
            "steps": summary.steps,
            "train_loss": summary.losses.last(),
            "val_loss": summary.val_loss,
            "best_metric": summary.best_metric,
            "parameters": summary.parameters,
            "trainable_parameters": summary.trainable_parameters,
            "tokens_per_s": summary.tokens_per_s,
            "final_model": summary.final_model.as_ref().map(|p| p.display().to_string()),
        });
        writeln!(std::io::stdout().lock(), "{json}")?;
    }
    let last = summary.losses.last().map_or(String::from("-"), |l| format!("{l:.4}"));
    let val = summary.val_loss.map_or(String::from("-"), |l| format!("{l:.4}"));
    match &summary.final_model {
        Some(m) => eprintln!(
            "done: {} steps, train loss {last}, val loss {val}, {:.0} tokens/s; model in {}",
            summary.steps,
            summary.tokens_per_s,
            m.display()
        ),
        None => eprintln!(
            "stopped after step {} (train loss {last}); continue with `slm train --resume {}`",
            summary.steps,
            summary.run.display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn toml_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// A progress bar on a terminal, plain lines otherwise.
struct View {
    bar: Option<Bar>,
    smoothed: Option<f64>,
    last_line: std::time::Instant,
}

impl View {
    fn new() -> View {
        View { bar: None, smoothed: None, last_line: std::time::Instant::now() }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.line(text),
            None => eprintln!("{text}"),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}

impl Observer for View {
    fn start(&mut self, first: u64, total: u64) {
        let bar = Bar::counting(total, "steps");
        if bar.is_drawn() {
            bar.set_position(first);
            self.bar = Some(bar);
        }
    }

    fn step(&mut self, log: &StepLog) {
        // An exponential moving average smooths the noisy per-step loss for display.
        let s = self.smoothed.map_or(log.loss, |s| 0.9 * s + 0.1 * log.loss);
        self.smoothed = Some(s);
        let text = format!("epoch {:.2} loss {s:.4} lr {:.2e} {:.0} tok/s", log.epoch, log.lr, log.tokens_per_s);
        match &self.bar {
            Some(bar) => {
                bar.set_position(log.step);
                bar.set_message(text);
            }
            None => {
                // Plain logs: about one line every 10 s, and the first and last steps.
                if log.step == 1 || log.step == log.total || self.last_line.elapsed().as_secs() >= 10 {
                    self.last_line = std::time::Instant::now();
                    eprintln!("step {}/{} {text} grad_norm {:.3}", log.step, log.total, log.grad_norm);
                }
            }
        }
    }

    fn eval(&mut self, log: &EvalLog) {
        let acc = log.accuracy.map_or(String::new(), |a| format!(" accuracy {a:.4}"))
            + &log.rouge_l.map_or(String::new(), |r| format!(" ROUGE-L {r:.4}"));
        let best = if log.best { " (best)" } else { "" };
        self.line(&format!("eval step {}: val loss {:.4} ppl {:.2}{acc}{best}", log.step, log.loss, log.loss.exp()));
    }

    fn note(&mut self, message: &str) {
        self.line(message);
    }
}
