//! sacrebleu's BLEU tokenizers, reproduced rule for rule: `13a` (mteval-v13a, WMT's default), `intl`
//! (mteval-v14 international), `zh` (Chinese characters split, the rest as 13a), `char`, `none`.
//!
//! sacrebleu applies its regular expressions one after another with Python's `re.sub`, which scans left
//! to right and never overlaps matches; each pass below does the same over characters.

use unicode_general_category::{GeneralCategory as G, get_general_category};

use crate::pystr;

/// A BLEU tokenizer, named as in sacrebleu's `--tokenize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokenizer {
    /// mteval-v13a.
    T13a,
    /// mteval-v14 international (Unicode punctuation and symbols).
    Intl,
    /// Chinese: CJK characters become tokens, the rest follows 13a.
    Zh,
    /// Every character is a token.
    Char,
    /// Whitespace only.
    None,
}

impl Tokenizer {
    /// Parses a `--tokenize` value.
    pub fn parse(name: &str) -> Option<Tokenizer> {
        Some(match name {
            "13a" => Tokenizer::T13a,
            "intl" => Tokenizer::Intl,
            "zh" => Tokenizer::Zh,
            "char" => Tokenizer::Char,
            "none" => Tokenizer::None,
            _ => return None,
        })
    }

    /// The name used in signatures.
    pub fn name(self) -> &'static str {
        match self {
            Tokenizer::T13a => "13a",
            Tokenizer::Intl => "intl",
            Tokenizer::Zh => "zh",
            Tokenizer::Char => "char",
            Tokenizer::None => "none",
        }
    }

    /// Tokenizes one segment; tokens are separated by single spaces.
    pub fn apply(self, line: &str) -> String {
        match self {
            Tokenizer::T13a => tok_13a(line),
            Tokenizer::Intl => tok_intl(line),
            Tokenizer::Zh => tok_zh(line),
            Tokenizer::Char => {
                let mut out = String::with_capacity(line.len() * 2);
                for (i, c) in line.chars().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push(c);
                }
                out
            }
            Tokenizer::None => line.to_owned(),
        }
    }
}

/// Applies a two-character rewrite rule the way `re.sub` applies `(A)(B)`: at each position, if the
/// character there and the next satisfy the rule, both are rewritten and consumed.
fn pairwise(chars: &[char], rule: impl Fn(char, char, &mut Vec<char>) -> bool) -> Vec<char> {
    let mut out = Vec::with_capacity(chars.len() + chars.len() / 4);
    let mut i = 0;
    while i < chars.len() {
        if i + 1 < chars.len() && rule(chars[i], chars[i + 1], &mut out) {
            i += 2;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// sacrebleu's `TokenizerRegexp`, the shared back end of 13a and zh.
fn regexp_post(line: &str) -> String {
    // ([\{-\~\[-\` -\&\(-\+\:-\@\/]) -> ' \1 '
    let mut chars = Vec::with_capacity(line.len() * 2);
    for c in line.chars() {
        if matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/') {
            chars.extend([' ', c, ' ']);
        } else {
            chars.push(c);
        }
    }
    let is_digit = |c: char| c.is_ascii_digit();
    let is_period_comma = |c: char| c == '.' || c == ',';
    // ([^0-9])([\.,]) -> '\1 \2 '
    let chars = pairwise(&chars, |a, b, out| {
        let hit = !is_digit(a) && is_period_comma(b);
        if hit {
            out.extend([a, ' ', b, ' ']);
        }
        hit
    });
    // ([\.,])([^0-9]) -> ' \1 \2'
    let chars = pairwise(&chars, |a, b, out| {
        let hit = is_period_comma(a) && !is_digit(b);
        if hit {
            out.extend([' ', a, ' ', b]);
        }
        hit
    });
    // ([0-9])(-) -> '\1 \2 '
    let chars = pairwise(&chars, |a, b, out| {
        let hit = is_digit(a) && b == '-';
        if hit {
            out.extend([a, ' ', b, ' ']);
        }
        hit
    });
    let s: String = chars.into_iter().collect();
    pystr::fold_spaces(&s)
}

fn tok_13a(line: &str) -> String {
    let mut line = line
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    if line.contains('&') {
        line = line
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    regexp_post(&format!(" {line} "))
}

fn is_number(c: char) -> bool {
    matches!(
        get_general_category(c),
        G::DecimalNumber | G::LetterNumber | G::OtherNumber
    )
}

fn is_punctuation(c: char) -> bool {
    matches!(
        get_general_category(c),
        G::ConnectorPunctuation
            | G::DashPunctuation
            | G::OpenPunctuation
            | G::ClosePunctuation
            | G::InitialPunctuation
            | G::FinalPunctuation
            | G::OtherPunctuation
    )
}

fn is_symbol(c: char) -> bool {
    matches!(
        get_general_category(c),
        G::MathSymbol | G::CurrencySymbol | G::ModifierSymbol | G::OtherSymbol
    )
}

fn tok_intl(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    // (\P{N})(\p{P}) -> '\1 \2 '
    let chars = pairwise(&chars, |a, b, out| {
        let hit = !is_number(a) && is_punctuation(b);
        if hit {
            out.extend([a, ' ', b, ' ']);
        }
        hit
    });
    // (\p{P})(\P{N}) -> ' \1 \2'
    let chars = pairwise(&chars, |a, b, out| {
        let hit = is_punctuation(a) && !is_number(b);
        if hit {
            out.extend([' ', a, ' ', b]);
        }
        hit
    });
    // (\p{S}) -> ' \1 '
    let mut s = String::with_capacity(chars.len() * 2);
    for c in chars {
        if is_symbol(c) {
            s.push(' ');
            s.push(c);
            s.push(' ');
        } else {
            s.push(c);
        }
    }
    pystr::fold_spaces(&s)
}

/// sacrebleu's `_is_chinese_char`, including its quirk: two of its ranges are written `'\u20000'` and
/// `'\u2f800'`, which Python reads as two-character strings, so under string comparison they cover
/// U+2001..=U+2A6D and U+2F81..=U+2FA1 (general punctuation such as `’` and `—` included) instead of
/// the CJK extension planes.
fn is_chinese_char(c: char) -> bool {
    const RANGES: [(u32, u32); 22] = [
        (0x3400, 0x4db5),
        (0x4e00, 0x9fa5),
        (0x9fa6, 0x9fbb),
        (0xf900, 0xfa2d),
        (0xfa30, 0xfa6a),
        (0xfa70, 0xfad9),
        (0x2001, 0x2a6d),
        (0x2f81, 0x2fa1),
        (0xff00, 0xffef),
        (0x2e80, 0x2eff),
        (0x3000, 0x303f),
        (0x31c0, 0x31ef),
        (0x2f00, 0x2fdf),
        (0x2ff0, 0x2fff),
        (0x3100, 0x312f),
        (0x31a0, 0x31bf),
        (0xfe10, 0xfe1f),
        (0xfe30, 0xfe4f),
        (0x2600, 0x26ff),
        (0x2700, 0x27bf),
        (0x3200, 0x32ff),
        (0x3300, 0x33ff),
    ];
    let c = c as u32;
    RANGES.iter().any(|&(lo, hi)| lo <= c && c <= hi)
}

fn tok_zh(line: &str) -> String {
    let line = line.trim_matches(pystr::is_space);
    let mut spaced = String::with_capacity(line.len() * 2);
    for c in line.chars() {
        if is_chinese_char(c) {
            spaced.push(' ');
            spaced.push(c);
            spaced.push(' ');
        } else {
            spaced.push(c);
        }
    }
    regexp_post(&spaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirteen_a_matches_sacrebleu_examples() {
        // Outputs checked against sacrebleu 2.6.0's Tokenizer13a.
        assert_eq!(
            tok_13a("Hello, world! It's 3.5 - 4,000 km."),
            "Hello , world ! It's 3.5 - 4,000 km ."
        );
        assert_eq!(
            tok_13a("a.. b,c 1990-2000 &amp; &lt;x&gt;"),
            "a . . b , c 1990 - 2000 & < x >"
        );
        assert_eq!(tok_13a("e.g. U.S.A."), "e . g . U . S . A .");
    }

    #[test]
    fn zh_splits_cjk_and_its_quirky_ranges() {
        assert_eq!(tok_zh("我爱北京。ok"), "我 爱 北 京 。 ok");
        assert_eq!(tok_zh("it’s"), "it ’ s");
    }

    #[test]
    fn intl_splits_unicode_punctuation_but_not_decimal_points() {
        assert_eq!(
            tok_intl("«Bonjour», dit-il: 3.14€"),
            "« Bonjour » , dit - il : 3.14 €"
        );
    }
}
