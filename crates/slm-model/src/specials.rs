//! The special tokens slm pads and ends sequences with: the same ids in training and at inference.

use tokenizers::Tokenizer;

/// End-of-sequence and padding ids of a tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Specials {
    /// End of sequence: after every document and completion; the one token of an empty text.
    pub eos: u32,
    /// Padding of inputs (never a target).
    pub pad: u32,
}

/// End-of-sequence tokens looked for, in order, when the tokenizer's configuration names none.
const EOS_TOKENS: [&str; 4] = ["<|endoftext|>", "</s>", "<|im_end|>", "<|eot_id|>"];

impl Specials {
    /// The EOS (`eos_hint`, else the first of `<|endoftext|>`, `</s>`, `<|im_end|>`, `<|eot_id|>` the
    /// tokenizer knows) and the pad (`<|pad|>`, `<pad>`, else the EOS); `None` without an EOS.
    pub fn of(tokenizer: &Tokenizer, eos_hint: Option<&str>) -> Option<Specials> {
        let eos = eos_hint
            .and_then(|t| tokenizer.token_to_id(t))
            .or_else(|| EOS_TOKENS.iter().find_map(|t| tokenizer.token_to_id(t)))?;
        let pad = tokenizer.token_to_id("<|pad|>").or_else(|| tokenizer.token_to_id("<pad>")).unwrap_or(eos);
        Some(Specials { eos, pad })
    }

    /// The message for a tokenizer without an EOS.
    pub const MISSING: &'static str = "the tokenizer has no end-of-sequence token (<|endoftext|>, </s>, <|im_end|>)";
}
