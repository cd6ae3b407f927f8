//! The `slm` command line. Each command is one module under [`commands`]: a clap `Args` struct and a
//! `run` function that calls a library crate and prints. Results go to stdout, progress and messages to
//! stderr. Exit codes: 0 success, 1 a gate or check failed, 2 bad usage or bad input.

#![warn(missing_docs)]

mod commands;
mod error;
mod flags;
mod progress;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};

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

/// clap's multi-line usage error as one line: the message with its details (possible values, the
/// missing arguments), without the usage and help hints.
fn one_line(rendered: &str) -> String {
    rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses the process arguments, runs the command and returns its exit code.
pub fn run() -> ExitCode {
    // Under a file-size limit (RLIMIT_FSIZE) a write then fails with "File too large", reported like a full
    // disk, instead of the signal killing the process mid-write.
    // SAFETY: sets one signal's disposition at startup.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let command = Cli::command();
    let parsed = command.clone().try_get_matches().and_then(|m| Ok((Cli::from_arg_matches(&m)?, m)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        // Help and version go to stdout as clap renders them; a usage error is one line on stderr.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{}", one_line(&e.render().to_string()));
            return ExitCode::from(2);
        }
    };
    let given = matches
        .subcommand()
        .and_then(|(name, m)| Some(flags::Given::of(command.find_subcommand(name)?, m)))
        .unwrap_or_default();
    match commands::run(cli.command, &given) {
        Ok(code) => code,
        // A reader that went away (`slm eval ... | head`) is not a failure, as in every Unix tool.
        Err(CliError::Stdout(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
