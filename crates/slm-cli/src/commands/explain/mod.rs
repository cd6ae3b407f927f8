//! `slm explain`: why a model decided, offline.

mod attention;

use std::process::ExitCode;

use crate::CliError;
use crate::flags::Given;

/// Explain a model's decisions: attention maps with rollout.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    Attention(attention::Args),
}

/// Runs `slm explain`.
pub fn run(args: Args, given: &Given) -> Result<ExitCode, CliError> {
    match args.what {
        What::Attention(a) => attention::run(a, given),
    }
}
