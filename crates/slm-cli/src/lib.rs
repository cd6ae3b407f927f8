//! The `slm` command line. Each command is one module under [`commands`]: a clap `Args` struct and a
//! `run` function that calls a library crate and prints. Results go to stdout, progress and messages to
//! stderr. Exit codes: 0 success, 1 a gate or check failed, 2 bad usage or bad input.

mod commands;
mod error;
mod progress;

use std::process::ExitCode;

use clap::Parser;

pub use error::CliError;

/// Prepare data, train, fine-tune, generate with and evaluate small language models.
#[derive(Debug, Parser)]
#[command(
    name = "slm",
    version,
    about = "Prepare data, train, fine-tune, generate with and evaluate small language models",
    after_help = "Examples:
  slm split datasets/sms_spam/sms_spam.jsonl --stratify label --out-dir data/sms
  slm augment data/sms/train.jsonl --out data/sms/aug.jsonl --synonym 0.1 --copies 2
  slm validate datasets/mbpp/mbpp.jsonl --field code --lang python
  slm eval --metric bleu --hyp hyp.txt --ref ref.txt
  slm import models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf --out models/smollm2
  slm generate --model models/smollm2 --chat --prompt 'What is the capital of France?'

Run `slm <command> --help` for the options and examples of each command."
)]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
}

/// Parses the process arguments, runs the command and returns its exit code.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match commands::run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
