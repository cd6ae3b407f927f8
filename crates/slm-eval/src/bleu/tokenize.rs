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
        pystr::fold_spaces(&self.spaced(line))
    }

    /// Tokenizes one segment leaving runs of spaces unfolded (split it with [`pystr::split`]).
    pub fn spaced(self, line: &str) -> String {
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

thread_local! {
    /// Two byte buffers reused by the rewrite passes of each thread.
    static BUFFERS: std::cell::RefCell<(Vec<u8>, Vec<u8>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Applies a two-symbol rewrite rule the way `re.sub` applies `(A)(B)`: at each position, if the symbol
/// there and the next satisfy the rule, both are rewritten and consumed. Reads `src`, writes `dst`.
fn pairwise<T: Copy>(src: &[T], dst: &mut Vec<T>, rule: impl Fn(T, T, &mut Vec<T>) -> bool) {
    dst.clear();
    let mut i = 0;
    while i < src.len() {
        if i + 1 < src.len() && rule(src[i], src[i + 1], dst) {
            i += 2;
        } else {
            dst.push(src[i]);
            i += 1;
        }
    }
}

/// [`pairwise`] for rules that can only match where one of its two bytes is a trigger: the stretches
/// between triggers are copied in bulk (memchr finds the triggers), and only the neighbourhood of each
/// trigger is stepped through. Equal to `pairwise` for such rules.
fn pairwise_sparse(
    src: &[u8],
    dst: &mut Vec<u8>,
    next_trigger: impl Fn(&[u8]) -> Option<usize>,
    rule: impl Fn(u8, u8, &mut Vec<u8>) -> bool,
) {
    dst.clear();
    dst.reserve(src.len() + src.len() / 2);
    let mut i = 0;
    while i < src.len() {
        let Some(k) = next_trigger(&src[i..]).map(|off| i + off) else {
            dst.extend_from_slice(&src[i..]);
            return;
        };
        let start = k.saturating_sub(1).max(i);
        dst.extend_from_slice(&src[i..start]);
        i = start;
        // Step through every position whose pair can hold the trigger at k.
        while i <= k && i < src.len() {
            if i + 1 < src.len() && rule(src[i], src[i + 1], dst) {
                i += 2;
            } else {
                dst.push(src[i]);
                i += 1;
            }
        }
    }
}

/// The bytes 13a surrounds with spaces: `[\{-\~\[-\` -\&\(-\+\:-\@\/]`.
const SPACED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = matches!(c, b'{'..=b'~' | b'['..=b'`' | b' '..=b'&' | b'('..=b'+' | b':'..=b'@' | b'/');
        b += 1;
    }
    t
};

/// sacrebleu's `TokenizerRegexp`, the shared back end of 13a and zh (unfolded spaces).
///
/// It works on UTF-8 bytes, which gives exactly the character-level result: every pattern names only
/// ASCII characters, a multi-byte character's bytes are all >= 0x80 and so never match a named class,
/// and `[^0-9]` accepts any byte just as it accepts any character; spaces are inserted only next to ASCII
/// characters, that is at character boundaries.
fn regexp_post(line: &str) -> String {
    BUFFERS.with_borrow_mut(|(a, b)| {
        // ([\{-\~\[-\` -\&\(-\+\:-\@\/]) -> ' \1 '
        a.clear();
        a.reserve(line.len() * 2);
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let run = bytes[i..].iter().position(|&c| SPACED[c as usize]).unwrap_or(bytes.len() - i);
            a.extend_from_slice(&bytes[i..i + run]);
            i += run;
            if i < bytes.len() {
                a.extend_from_slice(&[b' ', bytes[i], b' ']);
                i += 1;
            }
        }
        let is_period_comma = |c: u8| c == b'.' || c == b',';
        let period_comma = |s: &[u8]| memchr::memchr2(b'.', b',', s);
        // ([^0-9])([\.,]) -> '\1 \2 '
        pairwise_sparse(a, b, period_comma, |x, y, out| {
            let hit = !x.is_ascii_digit() && is_period_comma(y);
            if hit {
                out.extend_from_slice(&[x, b' ', y, b' ']);
            }
            hit
        });
        // ([\.,])([^0-9]) -> ' \1 \2'
        pairwise_sparse(b, a, period_comma, |x, y, out| {
            let hit = is_period_comma(x) && !y.is_ascii_digit();
            if hit {
                out.extend_from_slice(&[b' ', x, b' ', y]);
            }
            hit
        });
        // ([0-9])(-) -> '\1 \2 '
        pairwise_sparse(
            a,
            b,
            |s| memchr::memchr(b'-', s),
            |x, y, out| {
                let hit = x.is_ascii_digit() && y == b'-';
                if hit {
                    out.extend_from_slice(&[x, b' ', y, b' ']);
                }
                hit
            },
        );
        String::from_utf8(std::mem::take(b)).expect("spaces are inserted at character boundaries only")
    })
}

fn tok_13a(line: &str) -> String {
    let mut line = std::borrow::Cow::Borrowed(line);
    for (from, to) in [("<skipped>", ""), ("-\n", ""), ("\n", " ")] {
        if line.contains(from) {
            line = line.replace(from, to).into();
        }
    }
    if line.contains('&') {
        line = line.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").into();
    }
    regexp_post(&format!(" {line} "))
}

fn is_number(c: char) -> bool {
    matches!(get_general_category(c), G::DecimalNumber | G::LetterNumber | G::OtherNumber)
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
    matches!(get_general_category(c), G::MathSymbol | G::CurrencySymbol | G::ModifierSymbol | G::OtherSymbol)
}

fn tok_intl(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut a = Vec::with_capacity(chars.len() * 2);
    let mut b = Vec::with_capacity(chars.len() * 2);
    // (\P{N})(\p{P}) -> '\1 \2 '
    pairwise(&chars, &mut a, |x, y, out| {
        let hit = !is_number(x) && is_punctuation(y);
        if hit {
            out.extend([x, ' ', y, ' ']);
        }
        hit
    });
    // (\p{P})(\P{N}) -> ' \1 \2'
    pairwise(&a, &mut b, |x, y, out| {
        let hit = is_punctuation(x) && !is_number(y);
        if hit {
            out.extend([' ', x, ' ', y]);
        }
        hit
    });
    let chars = b;
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
    s
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
            Tokenizer::T13a.apply("Hello, world! It's 3.5 - 4,000 km."),
            "Hello , world ! It's 3.5 - 4,000 km ."
        );
        assert_eq!(Tokenizer::T13a.apply("a.. b,c 1990-2000 &amp; &lt;x&gt;"), "a . . b , c 1990 - 2000 & < x >");
        assert_eq!(Tokenizer::T13a.apply("e.g. U.S.A."), "e . g . U . S . A .");
    }

    #[test]
    fn sparse_passes_equal_plain_passes() {
        // Random strings over the characters the rules care about, checked against the plain pass.
        let alphabet: Vec<char> = "a1.,- 9é.,,--".chars().collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let len = (seed % 12) as usize;
            let mut text = String::new();
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let src = text.as_bytes();
            type Rule = fn(u8, u8, &mut Vec<u8>) -> bool;
            let rules: [Rule; 2] = [
                |x, y, out| {
                    let hit = !x.is_ascii_digit() && (y == b'.' || y == b',');
                    if hit {
                        out.extend_from_slice(&[x, b' ', y, b' ']);
                    }
                    hit
                },
                |x, y, out| {
                    let hit = (x == b'.' || x == b',') && !y.is_ascii_digit();
                    if hit {
                        out.extend_from_slice(&[b' ', x, b' ', y]);
                    }
                    hit
                },
            ];
            for rule in rules {
                let (mut plain, mut sparse) = (Vec::new(), Vec::new());
                pairwise(src, &mut plain, rule);
                pairwise_sparse(src, &mut sparse, |s| memchr::memchr2(b'.', b',', s), rule);
                assert_eq!(plain, sparse, "{text:?}");
            }
        }
    }

    #[test]
    fn zh_splits_cjk_and_its_quirky_ranges() {
        assert_eq!(Tokenizer::Zh.apply("我爱北京。ok"), "我 爱 北 京 。 ok");
        assert_eq!(Tokenizer::Zh.apply("it’s"), "it ’ s");
    }

    #[test]
    fn intl_splits_unicode_punctuation_but_not_decimal_points() {
        assert_eq!(Tokenizer::Intl.apply("«Bonjour», dit-il: 3.14€"), "« Bonjour » , dit - il : 3.14 €");
    }
}
