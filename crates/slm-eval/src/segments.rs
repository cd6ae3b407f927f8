//! Reading hypothesis and reference files: one segment per line (a trailing `\r` is dropped, so CRLF files
//! read like LF files), or JSON Lines with `hyp` and `ref` fields.

use std::path::{Path, PathBuf};

use crate::error::{EvalError, Result};

/// Reads a text file as segments, one per line. A final newline does not start an empty segment.
///
/// # Errors
/// The file cannot be read, is not UTF-8, or holds no segment.
pub fn read_lines(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).map_err(|e| EvalError::io(path, e))?;
    let mut lines = Vec::new();
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    if bytes.is_empty() {
        return Err(EvalError::malformed(path, 0, "the file is empty; expected one segment per line"));
    }
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = std::str::from_utf8(line).map_err(|_| EvalError::Utf8 { path: path.to_owned(), line: i + 1 })?;
        lines.push(text.to_owned());
    }
    Ok(lines)
}

/// Reads one JSON field (a string) from every line of a JSON Lines file.
///
/// # Errors
/// Unreadable file, invalid JSON, or a line without the field as a string.
pub fn read_jsonl_field(path: &Path, field: &str) -> Result<Vec<String>> {
    read_jsonl(path)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            v.get(field)
                .and_then(|f| f.as_str())
                .map(str::to_owned)
                .ok_or_else(|| EvalError::malformed(path, i + 1, format!("the record has no string field `{field}`")))
        })
        .collect()
}

/// Reads a JSON Lines file into values, skipping blank lines.
///
/// # Errors
/// Unreadable file, invalid UTF-8 or JSON, or no record.
pub fn read_jsonl(path: &Path) -> Result<Vec<serde_json::Value>> {
    let lines = read_lines(path)?;
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(line)
            .map_err(|e| EvalError::malformed(path, i + 1, format!("malformed JSON: {e}")))?;
        out.push(value);
    }
    if out.is_empty() {
        return Err(EvalError::malformed(path, 0, "the file holds no records"));
    }
    Ok(out)
}

/// Hypotheses and reference streams that align segment by segment.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// One hypothesis per segment.
    pub hyps: Vec<String>,
    /// One or more reference streams, each with one reference per segment.
    pub refs: Vec<Vec<String>>,
}

impl Corpus {
    /// Reads `--hyp` and each `--ref`. A `.jsonl` hypothesis file with a single `.jsonl` reference (or none)
    /// is read from its `hyp` and `ref` fields.
    ///
    /// # Errors
    /// Unreadable files, or files whose segment counts differ.
    pub fn read(hyp: &Path, refs: &[PathBuf]) -> Result<Corpus> {
        let is_jsonl = |p: &Path| p.extension().is_some_and(|e| e == "jsonl");
        if is_jsonl(hyp) && refs.iter().all(|r| r == hyp) {
            return Ok(Corpus { hyps: read_jsonl_field(hyp, "hyp")?, refs: vec![read_jsonl_field(hyp, "ref")?] });
        }
        if refs.is_empty() {
            return Err(EvalError::Usage("give at least one --ref file".into()));
        }
        let hyps = read_lines(hyp)?;
        let mut streams = Vec::new();
        for r in refs {
            let lines = read_lines(r)?;
            if lines.len() != hyps.len() {
                return Err(EvalError::LineCount {
                    hyp: hyp.to_owned(),
                    hyp_lines: hyps.len(),
                    reference: r.clone(),
                    ref_lines: lines.len(),
                });
            }
            streams.push(lines);
        }
        Ok(Corpus { hyps, refs: streams })
    }

    /// The references of segment `i`, one per stream.
    pub fn refs_of(&self, i: usize) -> impl Iterator<Item = &str> {
        self.refs.iter().map(move |s| s[i].as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_and_final_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        std::fs::write(&p, "a\r\nb\n\nc\n").unwrap();
        assert_eq!(read_lines(&p).unwrap(), ["a", "b", "", "c"]);
        std::fs::write(&p, "x").unwrap();
        assert_eq!(read_lines(&p).unwrap(), ["x"]);
        std::fs::write(&p, "").unwrap();
        assert!(read_lines(&p).is_err());
        std::fs::write(&p, b"ok\n\xff\n").unwrap();
        assert_eq!(read_lines(&p).unwrap_err().to_string(), format!("{}:2: invalid UTF-8", p.display()));
    }
}
