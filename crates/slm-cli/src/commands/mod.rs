//! One module per command.

mod augment;
mod classify;
mod eval;
mod explain;
mod export;
mod generate;
mod import;
mod normalize;
mod plot;
mod pseudo_label;
mod quantize;
mod serve;
mod split;
mod tokenizer;
mod train;
mod validate;

use std::process::ExitCode;

use clap::Subcommand;

use crate::CliError;
use crate::flags::Given;

/// The commands of `slm`.
#[derive(Debug, Subcommand)]
pub enum Command {
    Split(split::Args),
    Augment(augment::Args),
    Validate(validate::Args),
    Normalize(normalize::Args),
    Tokenizer(tokenizer::Args),
    Eval(Box<eval::Args>),
    Import(import::Args),
    Generate(generate::Args),
    Classify(classify::Args),
    PseudoLabel(pseudo_label::Args),
    Train(train::Args),
    Export(export::Args),
    Quantize(quantize::Args),
    Plot(plot::Args),
    Serve(serve::Args),
    Explain(explain::Args),
}

/// Runs one command.
pub fn run(command: Command, given: &Given) -> Result<ExitCode, CliError> {
    match command {
        Command::Split(args) => split::run(args, given),
        Command::Augment(args) => augment::run(args, given),
        Command::Validate(args) => validate::run(args),
        Command::Normalize(args) => normalize::run(args),
        Command::Tokenizer(args) => tokenizer::run(args, given),
        Command::Eval(args) => eval::run(*args, given),
        Command::Import(args) => import::run(args),
        Command::Generate(args) => generate::run(args, given),
        Command::Classify(args) => classify::run(args, given),
        Command::PseudoLabel(args) => pseudo_label::run(args, given),
        Command::Train(args) => train::run(args),
        Command::Export(args) => export::run(args),
        Command::Quantize(args) => quantize::run(args),
        Command::Plot(args) => plot::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Explain(args) => explain::run(args, given),
    }
}
