use std::path::Path;

/// The on-disk layout of a dataset, chosen from the file name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (`.jsonl`, `.ndjson`).
    Jsonl,
    /// Comma-separated values with a header row (`.csv`).
    Csv,
    /// Tab-separated values with a header row (`.tsv`, `.tab`).
    Tsv,
    /// Plain text, one record per line in the field `text` (any other extension).
    Text,
}

impl Format {
    /// Picks the format from the extension of `path`.
    pub fn from_path(path: &Path) -> Format {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("jsonl" | "ndjson") => Format::Jsonl,
            Some("csv") => Format::Csv,
            Some("tsv" | "tab") => Format::Tsv,
            _ => Format::Text,
        }
    }

    /// The field delimiter of the delimited formats.
    pub fn delimiter(self) -> Option<u8> {
        match self {
            Format::Csv => Some(b','),
            Format::Tsv => Some(b'\t'),
            Format::Jsonl | Format::Text => None,
        }
    }

    /// The usual file extension, used to name outputs (`train.jsonl`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Text => "txt",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_picks_format_case_insensitively() {
        assert_eq!(Format::from_path(Path::new("a/b.JSONL")), Format::Jsonl);
        assert_eq!(Format::from_path(Path::new("x.csv")), Format::Csv);
        assert_eq!(Format::from_path(Path::new("x.tsv")), Format::Tsv);
        assert_eq!(Format::from_path(Path::new("input.txt")), Format::Text);
        assert_eq!(Format::from_path(Path::new("SMSSpamCollection")), Format::Text);
    }
}
