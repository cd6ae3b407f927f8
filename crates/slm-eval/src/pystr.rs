//! Python's string semantics where the reference implementations depend on them: `str.split()` and
//! `str.rstrip()` use Python's idea of whitespace, which adds the ASCII separators U+001C..U+001F to
//! Unicode's White_Space set that Rust's `char::is_whitespace` implements.

/// Whether Python's `str.isspace()` holds for `c`.
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Byte classes for [`split`]: 1 = an ASCII space, 2 = the lead byte of a possible non-ASCII space
/// (U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000), 0 = no space.
const SPACE_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let ascii: [u8; 10] = [b' ', b'\t', b'\n', 0x0b, 0x0c, b'\r', 0x1c, 0x1d, 0x1e, 0x1f];
    let mut i = 0;
    while i < ascii.len() {
        t[ascii[i] as usize] = 1;
        i += 1;
    }
    t[0xc2] = 2;
    t[0xe1] = 2;
    t[0xe2] = 2;
    t[0xe3] = 2;
    t
};

/// The byte length of the Python whitespace character at `bytes[i]`, or 0 if there is none.
fn space_len(s: &str, i: usize) -> usize {
    match SPACE_CLASS[s.as_bytes()[i] as usize] {
        0 => 0,
        1 => 1,
        _ => s[i..].chars().next().filter(|&c| is_space(c)).map_or(0, char::len_utf8),
    }
}

/// Python's `s.split()`: runs of whitespace separate, no empty pieces. Bytes are classified through a
/// table; only the four lead bytes that can start a non-ASCII space are decoded.
pub fn split(s: &str) -> impl Iterator<Item = &str> {
    let bytes = s.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            match space_len(s, i) {
                0 => break,
                len => i += len,
            }
        }
        if i >= bytes.len() {
            return None;
        }
        let start = i;
        loop {
            // Jump to the next byte that may start a space, then check it.
            i += bytes[i..].iter().position(|&b| SPACE_CLASS[b as usize] != 0).unwrap_or(bytes.len() - i);
            if i >= bytes.len() || space_len(s, i) > 0 {
                break;
            }
            i += 1;
        }
        Some(&s[start..i])
    })
}

/// Python's `s.rstrip()`.
pub fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_space)
}

/// Python's `' '.join(s.split())`.
pub fn fold_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for token in split(s) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(token);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_whitespace() {
        assert!(is_space('\u{1f}') && is_space('\u{a0}') && is_space('\u{3000}') && is_space('\u{85}'));
        assert!(!is_space('\u{200b}'));
        assert_eq!(split(" a\u{1c}b\t c ").collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(split("é\u{a0}ü\u{3000}\u{200b}x").collect::<Vec<_>>(), ["é", "ü", "\u{200b}x"]);
        assert_eq!(split("").count(), 0);
        assert_eq!(rstrip("x \u{1e}\r\n"), "x");
    }
}
