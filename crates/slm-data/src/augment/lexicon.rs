use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::error::{DataError, Result};

/// The WordNet 3.0 synonym lexicon shipped with slm (datasets/wordnet_synonyms, WordNet licence),
/// gzip-compressed, embedded so that the binary works from any directory.
const WORDNET: &[u8] = include_bytes!("../../../../datasets/wordnet_synonyms/wordnet_synonyms.tsv.gz");

/// Lower-case word -> synonyms, in WordNet sense order (most frequent sense first), all parts of speech.
#[derive(Debug, Default)]
pub struct Lexicon {
    synonyms: HashMap<String, Vec<String>>,
}

impl Lexicon {
    /// The embedded WordNet lexicon.
    pub fn wordnet() -> Lexicon {
        Self::from_gzip(WORDNET, Path::new("<embedded wordnet_synonyms.tsv.gz>"))
            .expect("the embedded lexicon is valid")
    }

    /// Reads a lexicon file: `lemma<TAB>pos<TAB>syn1|syn2|...` per line, gzip-compressed if it ends in `.gz`.
    ///
    /// # Errors
    /// The file cannot be read or a line lacks its three fields.
    pub fn from_file(path: &Path) -> Result<Lexicon> {
        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        if path.extension().is_some_and(|e| e == "gz") {
            Self::from_gzip(&bytes, path)
        } else {
            Self::from_tsv(&bytes, path)
        }
    }

    fn from_gzip(bytes: &[u8], path: &Path) -> Result<Lexicon> {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut text).map_err(|e| DataError::io(path, e))?;
        Self::from_tsv(&text, path)
    }

    fn from_tsv(bytes: &[u8], path: &Path) -> Result<Lexicon> {
        let text = std::str::from_utf8(bytes).map_err(|_| DataError::Utf8 { path: path.to_owned(), line: 0 })?;
        let mut synonyms: HashMap<String, Vec<String>> = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let mut parts = line.split('\t');
            let (Some(lemma), Some(_pos), Some(syns)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(DataError::BadField {
                    path: path.to_owned(),
                    line: n as u64 + 1,
                    field: "synonyms".into(),
                    problem: "needs three tab-separated columns: lemma, pos, syn1|syn2|...".into(),
                });
            };
            let entry = synonyms.entry(lemma.to_owned()).or_default();
            for s in syns.split('|') {
                if !entry.iter().any(|e| e == s) {
                    entry.push(s.to_owned());
                }
            }
        }
        Ok(Lexicon { synonyms })
    }

    /// The synonyms of a lower-case word.
    pub fn get(&self, word: &str) -> &[String] {
        self.synonyms.get(word).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_wordnet_has_known_synonyms() {
        let lex = Lexicon::wordnet();
        assert!(lex.get("quick").iter().any(|s| s == "speedy"));
        assert!(lex.get("car").iter().any(|s| s == "automobile"));
        assert!(lex.get("zzzz").is_empty());
    }
}
