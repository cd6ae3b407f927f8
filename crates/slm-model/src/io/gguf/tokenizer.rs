//! The tokenizer embedded in a GGUF file (`tokenizer.ggml.*`) as a Hugging Face tokenizer: a byte-level BPE
//! with the file's vocabulary and merges, the pre-tokenizer its `tokenizer.ggml.pre` names, and its control
//! tokens as special tokens.

use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, PreTokenizerWrapper, Tokenizer};

use super::{Gguf, Value};
use crate::error::{ModelError, Result};

/// llama.cpp's token types.
const CONTROL: u64 = 3;
const USER_DEFINED: u64 = 4;

fn strings<'a>(g: &'a Gguf, key: &str) -> Result<Vec<&'a str>> {
    g.require(key)?
        .as_array()
        .and_then(|a| a.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
        .ok_or_else(|| ModelError::format(g.path(), format!("`{key}` must be an array of strings")))
}

/// Builds the Hugging Face tokenizer of a GGUF file.
///
/// # Errors
/// The tokenizer metadata is missing or malformed, or its model or pre-tokenizer is not supported
/// (slm reads GPT-2-style byte-level BPE: pre-tokenizers `default`, `gpt2`, `smollm`, `starcoder`).
pub fn to_hf_tokenizer(g: &Gguf) -> Result<Tokenizer> {
    let model = g.require("tokenizer.ggml.model")?.as_str().unwrap_or_default();
    if model != "gpt2" {
        return Err(ModelError::Unsupported {
            path: g.path().to_owned(),
            what: format!("tokenizer model `{model}`"),
            supported: "slm converts byte-level BPE tokenizers (`gpt2`)".into(),
        });
    }
    let pre = g.get("tokenizer.ggml.pre").and_then(Value::as_str).unwrap_or("default");
    let digits = match pre {
        "default" | "gpt2" => false,
        "smollm" | "starcoder" | "refact" => true,
        other => {
            return Err(ModelError::Unsupported {
                path: g.path().to_owned(),
                what: format!("pre-tokenizer `{other}`"),
                supported: "slm knows `default`, `gpt2`, `smollm`, `starcoder` and `refact`".into(),
            });
        }
    };
    let tokens = strings(g, "tokenizer.ggml.tokens")?;
    let merges = strings(g, "tokenizer.ggml.merges")?;
    let vocab: tokenizers::models::bpe::Vocab =
        tokens.iter().enumerate().map(|(i, t)| ((*t).to_owned(), i as u32)).collect();
    let merges = merges
        .iter()
        .map(|m| {
            m.split_once(' ').map(|(a, b)| (a.to_owned(), b.to_owned())).ok_or_else(|| {
                ModelError::format(g.path(), format!("merge `{m}` is not two tokens separated by a space"))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| ModelError::format(g.path(), format!("the BPE vocabulary is invalid: {e}")))?;
    let byte_level = ByteLevel::default().add_prefix_space(false).trim_offsets(true).use_regex(true);
    let mut tokenizer = Tokenizer::new(bpe);
    let pre_tokenizer: PreTokenizerWrapper = if digits {
        Sequence::new(vec![Digits::new(true).into(), byte_level.into()]).into()
    } else {
        byte_level.into()
    };
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
    tokenizer.with_decoder(Some(byte_level));
    tokenizer.with_post_processor(Some(byte_level));
    let types: Vec<u64> = g
        .get("tokenizer.ggml.token_type")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let of_type = |wanted: u64, special: bool| -> Vec<AddedToken> {
        tokens
            .iter()
            .zip(&types)
            .filter(|&(_, &ty)| ty == wanted)
            .map(|(t, _)| AddedToken::from((*t).to_owned(), special))
            .collect()
    };
    let (special, added) = (of_type(CONTROL, true), of_type(USER_DEFINED, false));
    let added_error =
        |e: tokenizers::Error| ModelError::format(g.path(), format!("cannot add the special tokens: {e}"));
    tokenizer.add_special_tokens(special).map_err(added_error)?;
    tokenizer.add_tokens(added).map_err(added_error)?;
    Ok(tokenizer)
}
