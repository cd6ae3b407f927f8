//! `slm tokenizer`: train and inspect tokenizers.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use slm_data::tokenizer::{Kind, TrainOptions};

use crate::CliError;
use crate::flags::Given;

/// Train a tokenizer or inspect how one encodes text.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: TokenizerCommand,
}

#[derive(Debug, Subcommand)]
enum TokenizerCommand {
    /// Train a byte-level BPE or character-level tokenizer and write an HF tokenizer.json.
    #[command(after_help = "Examples:
  slm tokenizer train datasets/tinyshakespeare/input.txt --kind char --out char.json
  slm tokenizer train datasets/tinyshakespeare/input.txt --kind bpe --vocab-size 4096 --out bpe.json
  slm tokenizer train data/sms/train.jsonl --field text --vocab-size 2048 --out sms.json")]
    Train {
        /// Files to learn from: plain text, or JSONL/CSV/TSV records (their --field).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The text field of JSONL/CSV/TSV inputs.
        #[arg(long, default_value = "text")]
        field: String,
        /// Tokenizer kind.
        #[arg(long, value_enum, default_value_t = Kind::Bpe)]
        kind: Kind,
        /// Vocabulary size, special tokens included (BPE).
        #[arg(long, default_value_t = 4096)]
        vocab_size: usize,
        /// Output tokenizer.json.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an existing output.
        #[arg(long)]
        force: bool,
    },
    /// Print the token ids of a text as a JSON array.
    #[command(after_help = "Examples:
  slm tokenizer encode --tokenizer bpe.json --text 'To be, or not to be'")]
    Encode {
        /// tokenizer.json to use.
        #[arg(long)]
        tokenizer: PathBuf,
        /// Text to encode.
        #[arg(long)]
        text: String,
    },
}

pub fn run(args: Args, given: &Given) -> Result<ExitCode, CliError> {
    match args.command {
        TokenizerCommand::Train { files, kind, vocab_size, field, out, force } => {
            if kind == Kind::Char {
                given.refuse(&["vocab_size"], "--kind char (its vocabulary is the characters seen)")?;
            }
            let opts = TrainOptions { kind, vocab_size, field, out, overwrite: force };
            let size = slm_data::tokenizer::train(&files, &opts)?;
            eprintln!("trained a vocabulary of {size} tokens -> {}", opts.out.display());
        }
        TokenizerCommand::Encode { tokenizer, text } => {
            let tk = slm_data::tokenizer::load(&tokenizer)?;
            let ids = slm_data::tokenizer::encode(&tk, &tokenizer, &text)?;
            writeln!(std::io::stdout().lock(), "{}", serde_json::to_string(&ids).expect("ids serialize"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
