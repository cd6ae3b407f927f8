//! Python's string semantics where the reference implementations depend on them: `str.split()` and
//! `str.rstrip()` use Python's idea of whitespace, which adds the ASCII separators U+001C..U+001F to
//! Unicode's White_Space set that Rust's `char::is_whitespace` implements.

/// Whether Python's `str.isspace()` holds for `c`.
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `s.split()`: runs of whitespace separate, no empty pieces.
pub fn split(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_space).filter(|t| !t.is_empty())
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
        assert_eq!(rstrip("x \u{1e}\r\n"), "x");
    }
}
