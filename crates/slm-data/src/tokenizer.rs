//! `slm tokenizer`: train a byte-level BPE or a character-level tokenizer with the Hugging Face
//! `tokenizers` library, written as a standard `tokenizer.json` that Python's `tokenizers` and
//! `transformers` load unchanged.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer, TokenizerBuilder, TokenizerImpl};

use crate::error::{DataError, Result};

/// The special tokens every slm tokenizer has: end of text (also BOS/EOS) and padding.
pub const SPECIAL_TOKENS: [&str; 2] = ["<|endoftext|>", "<|pad|>"];

/// The kind of tokenizer to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Kind {
    /// GPT-2 style byte-level BPE: any text round-trips exactly.
    Bpe,
    /// One token per character seen in training (an HF WordLevel model over single characters);
    /// unseen characters map to `<|unk|>`.
    Char,
}

/// Options of `slm tokenizer train`.
pub struct TrainOptions {
    /// BPE or characters.
    pub kind: Kind,
    /// Target vocabulary size, special tokens included (BPE only; char uses every character seen).
    pub vocab_size: usize,
    /// The field that holds the text in JSONL/CSV/TSV inputs (plain text files are used whole).
    pub field: String,
    /// Output tokenizer.json.
    pub out: PathBuf,
    /// Replace an existing output.
    pub overwrite: bool,
}

fn tk_error(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::Tokenizer { path: path.to_owned(), message: e.to_string() }
}

/// Trains a tokenizer on the text of `files` and writes it; returns its vocabulary size.
///
/// # Errors
/// An unreadable file, a vocabulary too small, an output that exists.
pub fn train(files: &[PathBuf], opts: &TrainOptions) -> Result<usize> {
    if files.is_empty() {
        return Err(DataError::Usage("give at least one training file".into()));
    }
    for f in files {
        crate::records::ensure_distinct(&opts.out, &[f.as_path()])?;
        std::fs::metadata(f).map_err(|e| DataError::io(f, e))?;
    }
    let out = crate::records::AtomicFile::create(&opts.out, opts.overwrite)?;
    // Records' text fields are gathered into temporary text files, one record per line.
    let mut texts = Vec::new();
    let mut paths = Vec::new();
    for f in files {
        if crate::records::Format::from_path(f) == crate::records::Format::Text {
            paths.push(f.clone());
        } else {
            let t = field_text(f, &opts.field)?;
            paths.push(t.path().to_owned());
            texts.push(t);
        }
    }
    let tokenizer = match opts.kind {
        Kind::Bpe => train_bpe(&paths, opts.vocab_size)?,
        Kind::Char => train_char(&paths)?,
    };
    let json = tokenizer.to_string(true).map_err(|e| tk_error(&opts.out, e))?;
    let mut out = out;
    out.write_all(json.as_bytes())?;
    out.commit()?;
    Ok(tokenizer.get_vocab_size(true))
}

/// Writes the `field` of every record of `path` to a temporary text file, one record per line.
fn field_text(path: &Path, field: &str) -> Result<tempfile::NamedTempFile> {
    use std::io::Write;
    let mut tmp = tempfile::NamedTempFile::new().map_err(|e| DataError::io(std::env::temp_dir(), e))?;
    for record in crate::records::Reader::open(path)? {
        let record = record?;
        let text = record.require(path, field)?;
        writeln!(tmp, "{}", text.replace('\n', " ")).map_err(|e| DataError::io(tmp.path(), e))?;
    }
    Ok(tmp)
}

fn train_bpe(files: &[PathBuf], vocab_size: usize) -> Result<Tokenizer> {
    let min = 256 + SPECIAL_TOKENS.len();
    if vocab_size < min {
        return Err(DataError::Usage(format!(
            "--vocab-size must be at least {min} for byte-level BPE (256 bytes + special tokens), got {vocab_size}"
        )));
    }
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(SPECIAL_TOKENS.iter().map(|t| AddedToken::from(*t, true)).collect())
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let byte_level = ByteLevel::default().add_prefix_space(false).trim_offsets(true);
    let mut tokenizer: TokenizerImpl<BPE, NFC, ByteLevel, ByteLevel, ByteLevel> = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(Some(NFC))
        .with_pre_tokenizer(Some(byte_level))
        .with_post_processor(Some(byte_level))
        .with_decoder(Some(byte_level))
        .build()
        .map_err(|e| tk_error(&files[0], e))?;
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    tokenizer.train_from_files(&mut trainer, names).map_err(|e| tk_error(&files[0], e))?;
    Ok(tokenizer.into())
}

fn train_char(files: &[PathBuf]) -> Result<Tokenizer> {
    let mut chars = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => DataError::Utf8 { path: f.clone(), line: 0 },
            _ => DataError::io(f, e),
        })?;
        chars.extend(text.chars());
    }
    let unk = "<|unk|>";
    let mut vocab: Vec<String> = SPECIAL_TOKENS.iter().map(|s| s.to_string()).collect();
    vocab.push(unk.to_owned());
    vocab.extend(chars.into_iter().map(String::from));
    let model = WordLevel::builder()
        .vocab(vocab.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect())
        .unk_token(unk.to_owned())
        .build()
        .map_err(|e| tk_error(&files[0], e))?;
    // Isolate every character: the empty-string regex matches between characters.
    let split = Split::new(SplitPattern::Regex(String::new()), SplitDelimiterBehavior::Isolated, false)
        .map_err(|e| tk_error(&files[0], e))?;
    let mut tokenizer = Tokenizer::new(model);
    tokenizer.with_pre_tokenizer(Some(split));
    tokenizer.with_decoder(Some(tokenizers::decoders::fuse::Fuse::new()));
    tokenizer
        .add_special_tokens(SPECIAL_TOKENS.iter().map(|t| AddedToken::from(*t, true)).collect::<Vec<_>>())
        .map_err(|e| tk_error(&files[0], e))?;
    Ok(tokenizer)
}

/// Loads a tokenizer.json.
///
/// # Errors
/// The file is missing or not a tokenizer.
pub fn load(path: &Path) -> Result<Tokenizer> {
    if !path.is_file() {
        return Err(DataError::io(path, std::io::Error::from(std::io::ErrorKind::NotFound)));
    }
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    // The tokenizers crate panics on some malformed files (a truncated `decoder`, a bad `Precompiled`
    // normalizer): broken JSON is refused first, and a panic on well-formed JSON becomes this file's error
    // (its message silenced: it is reported as one sentence).
    serde_json::from_str::<serde::de::IgnoredAny>(&text).map_err(|e| tk_error(path, format!("not JSON: {e}")))?;
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let parsed = std::panic::catch_unwind(|| text.parse::<Tokenizer>());
    std::panic::set_hook(quiet);
    match parsed {
        Ok(tokenizer) => tokenizer.map_err(|e| tk_error(path, e)),
        Err(_) => Err(tk_error(path, "not a tokenizer the tokenizers library can read")),
    }
}

/// Encodes `text` (no special tokens added) into token ids.
///
/// # Errors
/// The tokenizer fails on the text.
pub fn encode(tokenizer: &Tokenizer, path: &Path, text: &str) -> Result<Vec<u32>> {
    Ok(tokenizer.encode(text, false).map_err(|e| tk_error(path, e))?.get_ids().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpe_and_char_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let corpus = dir.path().join("c.txt");
        std::fs::write(&corpus, "hello world, hello tokens! ünïcödé 你好 🙂\n".repeat(50)).unwrap();
        for (kind, name) in [(Kind::Bpe, "bpe.json"), (Kind::Char, "char.json")] {
            let out = dir.path().join(name);
            let opts = TrainOptions { kind, vocab_size: 300, field: "text".into(), out: out.clone(), overwrite: false };
            let size = train(std::slice::from_ref(&corpus), &opts).unwrap();
            let tok = load(&out).unwrap();
            assert_eq!(tok.get_vocab_size(true), size);
            for s in SPECIAL_TOKENS {
                assert!(tok.token_to_id(s).is_some(), "{s}");
            }
            let text = "hello 你好 🙂 world<|endoftext|>";
            let ids = encode(&tok, &out, text).unwrap();
            assert_eq!(ids.last(), tok.token_to_id("<|endoftext|>").as_ref());
            assert_eq!(tok.decode(&ids, false).unwrap(), text, "{name}");
        }
    }
}
