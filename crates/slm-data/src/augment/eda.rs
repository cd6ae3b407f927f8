//! The four EDA operations. Each works on whitespace-separated tokens; a token's word core (its letters,
//! digits, `'` and `-`) is what gets looked up and replaced, so punctuation stays where it was.

use std::sync::Arc;

use rand::RngExt;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

use super::{Lexicon, TextOp};

/// English function words that EDA never replaces (the stop list of the EDA paper's code).
const STOPWORDS: &[&str] = &[
    "i",
    "me",
    "my",
    "myself",
    "we",
    "our",
    "ours",
    "ourselves",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "he",
    "him",
    "his",
    "himself",
    "she",
    "her",
    "hers",
    "herself",
    "it",
    "its",
    "itself",
    "they",
    "them",
    "their",
    "theirs",
    "themselves",
    "what",
    "which",
    "who",
    "whom",
    "this",
    "that",
    "these",
    "those",
    "am",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "having",
    "do",
    "does",
    "did",
    "doing",
    "a",
    "an",
    "the",
    "and",
    "but",
    "if",
    "or",
    "because",
    "as",
    "until",
    "while",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "against",
    "between",
    "into",
    "through",
    "during",
    "before",
    "after",
    "above",
    "below",
    "to",
    "from",
    "up",
    "down",
    "in",
    "out",
    "on",
    "off",
    "over",
    "under",
    "again",
    "further",
    "then",
    "once",
    "here",
    "there",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "not",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "s",
    "t",
    "can",
    "will",
    "just",
    "don",
    "should",
    "now",
];

/// Splits a token into (leading punctuation, word core, trailing punctuation).
fn parts(token: &str) -> (&str, &str, &str) {
    let is_word = |c: char| c.is_alphanumeric() || c == '\'' || c == '-';
    let start = token.find(is_word).unwrap_or(token.len());
    let end = token.rfind(is_word).map_or(start, |i| i + token[i..].chars().next().map_or(1, char::len_utf8));
    (&token[..start], &token[start..end], &token[end..])
}

/// Indices of tokens whose lower-cased core is not a stop word and has at least one synonym.
fn replaceable(tokens: &[&str], lexicon: &Lexicon) -> Vec<usize> {
    (0..tokens.len())
        .filter(|&i| {
            let core = parts(tokens[i]).1.to_lowercase();
            !core.is_empty() && !STOPWORDS.contains(&core.as_str()) && !lexicon.get(&core).is_empty()
        })
        .collect()
}

/// Matches the capitalisation of `like` (first letter upper, or all upper) on `word`.
fn match_case(word: &str, like: &str) -> String {
    if like.chars().count() > 1 && like.chars().all(|c| !c.is_lowercase()) && like.chars().any(char::is_uppercase) {
        return word.to_uppercase();
    }
    let mut chars = word.chars();
    match (like.chars().next(), chars.next()) {
        (Some(l), Some(first)) if l.is_uppercase() => first.to_uppercase().chain(chars).collect(),
        _ => word.to_owned(),
    }
}

/// How many words an operation of strength `p` touches in a text of `n` words: max(1, round(p * n)).
fn count(p: f64, n: usize) -> usize {
    ((p * n as f64).round() as usize).max(1)
}

/// Synonym replacement: `round(p * words)` distinct non-stop words with a WordNet synonym are replaced
/// by one of their synonyms.
pub struct Synonym {
    /// Share of words to replace.
    pub p: f64,
    /// Where synonyms come from.
    pub lexicon: Arc<Lexicon>,
}

impl TextOp for Synonym {
    fn name(&self) -> &'static str {
        "synonym"
    }

    fn apply(&self, text: &str, rng: &mut ChaCha8Rng) -> std::result::Result<Option<String>, String> {
        Ok(self.rewrite(text, rng))
    }
}

impl Synonym {
    /// The rewritten text, or `None` when nothing can change.
    fn rewrite(&self, text: &str, rng: &mut ChaCha8Rng) -> Option<String> {
        let mut tokens: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        let view: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let mut candidates = replaceable(&view, &self.lexicon);
        if candidates.is_empty() {
            return None;
        }
        let n = count(self.p, tokens.len()).min(candidates.len());
        for _ in 0..n {
            let pick = candidates.swap_remove(rng.random_range(0..candidates.len()));
            let (pre, core, post) = parts(&tokens[pick]);
            let synonym = self.lexicon.get(&core.to_lowercase()).choose(rng)?;
            tokens[pick] = format!("{pre}{}{post}", match_case(synonym, core));
        }
        Some(tokens.join(" "))
    }
}

/// Random insertion: `round(p * words)` times, a synonym of a random replaceable word is inserted at a
/// random position.
pub struct Insert {
    /// Share of words to insert.
    pub p: f64,
    /// Where synonyms come from.
    pub lexicon: Arc<Lexicon>,
}

impl TextOp for Insert {
    fn name(&self) -> &'static str {
        "insert"
    }

    fn apply(&self, text: &str, rng: &mut ChaCha8Rng) -> std::result::Result<Option<String>, String> {
        Ok(self.rewrite(text, rng))
    }
}

impl Insert {
    /// The rewritten text, or `None` when nothing can change.
    fn rewrite(&self, text: &str, rng: &mut ChaCha8Rng) -> Option<String> {
        let mut tokens: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        let view: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let candidates = replaceable(&view, &self.lexicon);
        if candidates.is_empty() {
            return None;
        }
        let synonyms: Vec<String> = (0..count(self.p, tokens.len()))
            .filter_map(|_| {
                let core = parts(&tokens[*candidates.choose(rng)?]).1.to_lowercase();
                self.lexicon.get(&core).choose(rng).cloned()
            })
            .collect();
        for synonym in synonyms {
            let at = rng.random_range(0..=tokens.len());
            tokens.insert(at, synonym);
        }
        Some(tokens.join(" "))
    }
}

/// Random swap: `round(p * words)` times, two random words trade places.
pub struct Swap {
    /// Share of words to swap.
    pub p: f64,
}

impl TextOp for Swap {
    fn name(&self) -> &'static str {
        "swap"
    }

    fn apply(&self, text: &str, rng: &mut ChaCha8Rng) -> std::result::Result<Option<String>, String> {
        Ok(self.rewrite(text, rng))
    }
}

impl Swap {
    /// The rewritten text, or `None` when nothing can change.
    fn rewrite(&self, text: &str, rng: &mut ChaCha8Rng) -> Option<String> {
        let mut tokens: Vec<&str> = text.split_whitespace().collect();
        if tokens.len() < 2 {
            return None;
        }
        for _ in 0..count(self.p, tokens.len()) {
            let a = rng.random_range(0..tokens.len());
            let b = (a + rng.random_range(1..tokens.len())) % tokens.len();
            tokens.swap(a, b);
        }
        Some(tokens.join(" "))
    }
}

/// Random deletion: each word is dropped with probability `p`; one word always survives.
pub struct Delete {
    /// Probability of dropping each word.
    pub p: f64,
}

impl TextOp for Delete {
    fn name(&self) -> &'static str {
        "delete"
    }

    fn apply(&self, text: &str, rng: &mut ChaCha8Rng) -> std::result::Result<Option<String>, String> {
        Ok(self.rewrite(text, rng))
    }
}

impl Delete {
    /// The rewritten text, or `None` when nothing can change.
    fn rewrite(&self, text: &str, rng: &mut ChaCha8Rng) -> Option<String> {
        let tokens: Vec<&str> = text.split_whitespace().collect();
        if tokens.len() < 2 {
            return None;
        }
        let kept: Vec<&str> = tokens.iter().copied().filter(|_| !rng.random_bool(self.p)).collect();
        if kept.is_empty() {
            return Some(tokens[rng.random_range(0..tokens.len())].to_owned());
        }
        Some(kept.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    #[test]
    fn token_parts_keep_punctuation() {
        assert_eq!(parts("(quick,"), ("(", "quick", ","));
        assert_eq!(parts("don't!"), ("", "don't", "!"));
        assert_eq!(parts("..."), ("...", "", ""));
        assert_eq!(match_case("speedy", "Quick"), "Speedy");
        assert_eq!(match_case("speedy", "QUICK"), "SPEEDY");
    }

    #[test]
    fn synonym_replaces_only_content_words_with_synonyms() {
        let lexicon = Arc::new(Lexicon::wordnet());
        let op = Synonym { p: 0.5, lexicon: lexicon.clone() };
        let text = "The quick dog runs.";
        let out = op.rewrite(text, &mut rng()).unwrap();
        let (a, b): (Vec<_>, Vec<_>) = (text.split(' ').collect(), out.split(' ').collect());
        assert_eq!(a[0], b[0], "stop word kept: {out}");
        let changed: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
        assert_eq!(changed.len(), 2, "{out}");
        for i in changed {
            let core = parts(a[i]).1.to_lowercase();
            let new = parts(b[i]).1.to_lowercase();
            assert!(lexicon.get(&core).contains(&new), "{new} is no synonym of {core}");
        }
        assert!(out.ends_with('.'));
        assert_eq!(op.rewrite("the of and", &mut rng()), None);
    }

    #[test]
    fn swap_insert_delete_keep_or_grow_the_word_multiset_as_expected() {
        let text = "alpha beta gamma delta epsilon zeta";
        let sorted = |s: &str| {
            let mut v: Vec<String> = s.split(' ').map(str::to_owned).collect();
            v.sort();
            v
        };
        let swapped = Swap { p: 0.3 }.rewrite(text, &mut rng()).unwrap();
        assert_ne!(swapped, text);
        assert_eq!(sorted(&swapped), sorted(text));
        let deleted = Delete { p: 0.5 }.rewrite(text, &mut rng()).unwrap();
        assert!(deleted.split(' ').all(|w| text.contains(w)));
        assert!(deleted.split(' ').count() < 6);
        let inserted = Insert { p: 0.4, lexicon: Arc::new(Lexicon::wordnet()) }
            .rewrite("the quick dog runs fast", &mut rng())
            .unwrap();
        assert!(inserted.split(' ').count() > 5, "{inserted}");
    }
}
