//! `slm explain`: why a model decided, offline.

mod attention;
mod tokens;

use std::process::ExitCode;

use crate::CliError;
use crate::flags::Given;

/// Explain a model's decisions: attention maps with rollout, token attributions.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    Attention(attention::Args),
    Tokens(tokens::Args),
}

/// Runs `slm explain`.
pub fn run(args: Args, given: &Given) -> Result<ExitCode, CliError> {
    match args.what {
        What::Attention(a) => attention::run(a, given),
        What::Tokens(a) => tokens::run(a, given),
    }
}
