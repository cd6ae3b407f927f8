//! One module per command.

mod split;

use std::process::ExitCode;

use clap::Subcommand;

use crate::CliError;

/// The commands of `slm`.
#[derive(Debug, Subcommand)]
pub enum Command {
    Split(split::Args),
}

/// Runs one command.
pub fn run(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Split(args) => split::run(args),
    }
}
