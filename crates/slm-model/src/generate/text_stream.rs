//! Text of a generation as it grows, token by token: each token's own piece of text, and the part of the
//! text that is final (safe to show a reader). Two things hold text back until the next token: an
//! incomplete UTF-8 character (the decoder shows it as U+FFFD until its last byte arrives) and a tail that
//! could be the start of a stop string (shown only once it turns out not to be one).

/// Follows one generation's text; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct TextStream {
    stop: Vec<String>,
    /// Bytes of the text already given out as deltas.
    shown: usize,
    /// Bytes of the settled text already given out as token pieces.
    pieces: usize,
}

/// What one more token changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advance {
    /// The text this token added (empty while it completes no character).
    pub piece: String,
    /// Text that became final with this token.
    pub delta: String,
    /// The text now contains a stop string: it ends before it, and the generation is over.
    pub stopped: bool,
}

impl TextStream {
    /// A stream that ends at the first of `stop` (none: only the token limit ends it).
    pub fn new(stop: Vec<String>) -> TextStream {
        TextStream { stop, shown: 0, pieces: 0 }
    }

    /// Takes `text`, the decoding of every token generated so far, after one more token.
    pub fn advance(&mut self, text: &str) -> Advance {
        let settled = text.trim_end_matches('\u{FFFD}');
        let piece = settled.get(self.pieces..).unwrap_or_default().to_owned();
        self.pieces = self.pieces.max(settled.len());
        if let Some(cut) = self.stop.iter().filter_map(|s| settled.find(s.as_str())).min() {
            return Advance { piece, delta: self.show(settled, cut), stopped: true };
        }
        let held = self.held_back(settled);
        Advance { piece, delta: self.show(settled, settled.len() - held), stopped: false }
    }

    /// The rest of `text` (the whole decoding) once the generation ended without a stop string.
    pub fn finish(&mut self, text: &str) -> String {
        self.show(text, text.len())
    }

    fn show(&mut self, text: &str, upto: usize) -> String {
        let delta = text.get(self.shown..upto).unwrap_or_default().to_owned();
        self.shown = self.shown.max(upto);
        delta
    }

    /// Bytes at the end of `text` that are a proper prefix of a stop string.
    fn held_back(&self, text: &str) -> usize {
        self.stop
            .iter()
            .flat_map(|s| (1..s.len()).rev().filter(|&k| s.is_char_boundary(k) && text.ends_with(&s[..k])).take(1))
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stop: &[&str], texts: &[&str]) -> (Vec<String>, Vec<String>, bool) {
        let mut s = TextStream::new(stop.iter().map(|s| s.to_string()).collect());
        let (mut pieces, mut deltas) = (Vec::new(), Vec::new());
        for t in texts {
            let a = s.advance(t);
            pieces.push(a.piece);
            deltas.push(a.delta);
            if a.stopped {
                return (pieces, deltas, true);
            }
        }
        deltas.push(s.finish(texts.last().unwrap()));
        (pieces, deltas, false)
    }

    #[test]
    fn pieces_and_deltas_join_to_the_text() {
        let (pieces, deltas, stopped) = run(&[], &["He", "Hello", "Hello wor", "Hello world"]);
        assert_eq!(pieces, ["He", "llo", " wor", "ld"]);
        assert_eq!(deltas.concat(), "Hello world");
        assert!(!stopped);
    }

    #[test]
    fn an_incomplete_character_waits_for_its_last_byte() {
        let (pieces, deltas, _) = run(&[], &["a\u{FFFD}", "a\u{FFFD}", "aé"]);
        assert_eq!(pieces, ["a", "", "é"]);
        assert_eq!(deltas, ["a", "", "é", ""]);
    }

    #[test]
    fn a_possible_stop_string_is_held_back_and_cut() {
        let (_, deltas, stopped) = run(&["\n\nUser"], &["Hi", "Hi\n", "Hi\n\nUs", "Hi\n\nUser:"]);
        assert_eq!(deltas, ["Hi", "", "", ""]);
        assert!(stopped);
        // The held tail is released when it turns out not to be the stop string.
        let (_, deltas, stopped) = run(&["\n\nUser"], &["Hi", "Hi\n", "Hi\n\nUs", "Hi\n\nUsa"]);
        assert_eq!(deltas, ["Hi", "", "", "\n\nUsa", ""]);
        assert!(!stopped);
        // Several stop strings: the earliest cut wins.
        let (_, deltas, _) = run(&["b", "x"], &["axyb"]);
        assert_eq!(deltas, ["a"]);
    }
}
