//! `slm normalize`: consistent terminology through a glossary (a domain's preferred terms). Each variant
//! is replaced by its canonical term, case-insensitively, on whole words only, longest variant first.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{DataError, Result};
use crate::progress::Progress;
use crate::records::{Reader, Writer, ensure_distinct, field_str};

/// Variant -> canonical term.
#[derive(Debug, Clone, Default)]
pub struct Glossary {
    /// Variants by their first lower-case char, longest first: (lower-case variant chars, canonical).
    by_first: HashMap<char, Vec<(Vec<char>, String)>>,
    terms: usize,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Glossary {
    /// Builds a glossary from (variant, canonical) pairs.
    pub fn new<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Glossary {
        let mut by_first: HashMap<char, Vec<(Vec<char>, String)>> = HashMap::new();
        let mut terms = 0;
        for (variant, canonical) in pairs {
            let lower: Vec<char> = variant.chars().flat_map(char::to_lowercase).collect();
            if let Some(&first) = lower.first() {
                by_first.entry(first).or_default().push((lower, canonical));
                terms += 1;
            }
        }
        for list in by_first.values_mut() {
            list.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        }
        Glossary { by_first, terms }
    }

    /// Reads a CSV/TSV/JSONL glossary with the fields `variant` and `canonical`.
    ///
    /// # Errors
    /// A malformed file or a record without one of the two fields.
    pub fn from_file(path: &Path) -> Result<Glossary> {
        let mut pairs = Vec::new();
        for record in Reader::open(path)? {
            let record = record?;
            let get = |field: &str| {
                field_str(&record.fields, field).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).ok_or_else(
                    || DataError::MissingField { path: path.to_owned(), line: record.line, field: field.to_owned() },
                )
            };
            pairs.push((get("variant")?, get("canonical")?));
        }
        Ok(Glossary::new(pairs))
    }

    /// Number of variants.
    pub fn len(&self) -> usize {
        self.terms
    }

    /// Whether the glossary has no variant.
    pub fn is_empty(&self) -> bool {
        self.terms == 0
    }

    /// Replaces every whole-word occurrence of a variant in `text`, counting replacements per canonical
    /// term in `counts`.
    pub fn apply(&self, text: &str, counts: &mut BTreeMap<String, u64>) -> String {
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        while i < chars.len() {
            let (byte, c) = chars[i];
            let at_start = i == 0 || !is_word(chars[i - 1].1) || !is_word(c);
            if at_start && let Some((len, canonical)) = self.longest_match(&chars[i..]) {
                out.push_str(canonical);
                *counts.entry(canonical.to_owned()).or_default() += 1;
                i += len;
                continue;
            }
            out.push_str(&text[byte..byte + c.len_utf8()]);
            i += 1;
        }
        out
    }

    /// The longest variant that matches at the start of `rest` and ends on a word boundary: (chars
    /// consumed, canonical).
    fn longest_match(&self, rest: &[(usize, char)]) -> Option<(usize, &str)> {
        let first = rest[0].1.to_lowercase().next()?;
        'variant: for (variant, canonical) in self.by_first.get(&first)? {
            let mut v = 0;
            let mut used = 0;
            while v < variant.len() {
                let Some(&(_, c)) = rest.get(used) else {
                    continue 'variant;
                };
                for lc in c.to_lowercase() {
                    if variant.get(v) != Some(&lc) {
                        continue 'variant;
                    }
                    v += 1;
                }
                used += 1;
            }
            let last = rest[used - 1].1;
            let boundary = rest.get(used).is_none_or(|&(_, next)| !is_word(next) || !is_word(last));
            if boundary {
                return Some((used, canonical));
            }
        }
        None
    }
}

/// Options of `slm normalize`.
pub struct NormalizeOptions {
    /// Fields to normalize.
    pub fields: Vec<String>,
    /// Output file, in the input's format.
    pub out: PathBuf,
    /// Replace an existing output.
    pub overwrite: bool,
}

/// Rewrites the fields (strings, or lists of strings) of every record of `input` through `glossary`; returns replacements per
/// canonical term.
///
/// # Errors
/// A malformed input, a record without a field, an output that exists or is the input.
pub fn normalize_file(
    input: &Path,
    glossary: &Glossary,
    opts: &NormalizeOptions,
    progress: &dyn Progress,
) -> Result<BTreeMap<String, u64>> {
    ensure_distinct(&opts.out, &[input])?;
    let mut reader = Reader::open(input)?;
    let columns = reader.header().map(<[String]>::to_vec).unwrap_or_default();
    let mut writer = Writer::create(&opts.out, reader.format(), columns, opts.overwrite)?;
    let mut counts = BTreeMap::new();
    progress.stage("normalizing", None);
    for record in reader.by_ref() {
        let mut record = record?;
        for field in &opts.fields {
            let value = match record.fields.get(field) {
                Some(Value::String(s)) => Value::String(glossary.apply(s, &mut counts)),
                Some(Value::Array(items)) if items.iter().all(Value::is_string) => Value::Array(
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|s| Value::String(glossary.apply(s, &mut counts)))
                        .collect(),
                ),
                Some(_) => {
                    return Err(DataError::BadField {
                        path: input.to_owned(),
                        line: record.line,
                        field: field.clone(),
                        problem: "must be a string or a list of strings".into(),
                    });
                }
                None => {
                    return Err(DataError::MissingField {
                        path: input.to_owned(),
                        line: record.line,
                        field: field.clone(),
                    });
                }
            };
            record.fields.insert(field.clone(), value);
        }
        writer.write(&record.fields)?;
        progress.advance(1);
    }
    writer.commit()?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glossary() -> Glossary {
        Glossary::new(
            [
                ("ML", "machine learning"),
                ("machine-learning", "machine learning"),
                ("LLM", "large language model"),
                ("LLMs", "large language models"),
                ("large LM", "large language model"),
                ("C++", "C++"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned())),
        )
    }

    #[test]
    fn whole_words_case_insensitive_longest_first() {
        let mut counts = BTreeMap::new();
        let out = glossary().apply("ml and LLMs beat a Large LM; HTML stays, mlx too. Machine-Learning!", &mut counts);
        assert_eq!(
            out,
            "machine learning and large language models beat a large language model; HTML stays, mlx too. machine learning!"
        );
        assert_eq!(counts["machine learning"], 2);
        assert_eq!(counts["large language model"], 1);
        assert_eq!(counts["large language models"], 1);
    }

    #[test]
    fn variants_ending_in_symbols_match() {
        let mut counts = BTreeMap::new();
        assert_eq!(glossary().apply("c++ code", &mut counts), "C++ code");
    }
}
