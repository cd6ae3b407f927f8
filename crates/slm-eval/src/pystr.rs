//! Python's string semantics where the reference implementations depend on them: `str.split()` and
//! `str.rstrip()` use Python's idea of whitespace, which adds the ASCII separators U+001C..U+001F to
//! Unicode's White_Space set that Rust's `char::is_whitespace` implements.

/// Whether Python's `str.isspace()` holds for `c`.
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `s.split()`: runs of whitespace separate, no empty pieces. ASCII bytes are classified
/// directly; only multi-byte characters are decoded.
pub fn split(s: &str) -> impl Iterator<Item = &str> {
    let bytes = s.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        let space_at = |i: usize| -> (bool, usize) {
            let b = bytes[i];
            if b < 0x80 {
                (matches!(b, b' ' | b'\t'..=b'\r' | 0x1c..=0x1f), 1)
            } else {
                let c = s[i..].chars().next().expect("i is a char boundary");
                (is_space(c), c.len_utf8())
            }
        };
        while i < bytes.len() {
            let (space, len) = space_at(i);
            if !space {
                break;
            }
            i += len;
        }
        if i >= bytes.len() {
            return None;
        }
        let start = i;
        while i < bytes.len() {
            let (space, len) = space_at(i);
            if space {
                break;
            }
            i += len;
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
        assert!(
            is_space('\u{1f}') && is_space('\u{a0}') && is_space('\u{3000}') && is_space('\u{85}')
        );
        assert!(!is_space('\u{200b}'));
        assert_eq!(split(" a\u{1c}b\t c ").collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(
            split("é\u{a0}ü\u{3000}\u{200b}x").collect::<Vec<_>>(),
            ["é", "ü", "\u{200b}x"]
        );
        assert_eq!(split("").count(), 0);
        assert_eq!(rstrip("x \u{1e}\r\n"), "x");
    }
}
