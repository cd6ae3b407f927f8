use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Fields, Format, TEXT_FIELD, field_str};
use crate::error::{DataError, Result};

/// One record and where it stands in its file.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based line number of the record's first line.
    pub line: u64,
    /// Byte offsets `[start, end)` of the record in the file, its line ending included.
    pub span: (u64, u64),
    /// The fields, in file order.
    pub fields: Fields,
}

impl Record {
    /// Field `name` as a string (as [`field_str`] reads it); a missing or null field is an error naming
    /// `path`, the record's line and the field.
    ///
    /// # Errors
    /// The record has no such field.
    pub fn require(&self, path: &Path, name: &str) -> Result<std::borrow::Cow<'_, str>> {
        field_str(&self.fields, name).ok_or_else(|| DataError::MissingField {
            path: path.to_owned(),
            line: self.line,
            field: name.to_owned(),
        })
    }
}

/// Streams the records of one file, checking each as it goes. Memory stays at one record.
pub struct Reader {
    path: PathBuf,
    format: Format,
    header: Option<Vec<String>>,
    header_end: u64,
    inner: Inner,
    seen: u64,
    done: bool,
}

enum Inner {
    Lines { reader: BufReader<File>, buf: Vec<u8>, offset: u64, line: u64 },
    Delimited { reader: Box<csv::Reader<File>>, record: csv::ByteRecord, lines: LineCounter },
}

/// Finds line numbers and true record starts for the CSV reader, whose own positions count a CRLF header
/// oddly and point records that follow blank lines at the blank line. It scans the same file forward
/// through a second handle, so each byte is looked at once.
struct LineCounter {
    file: BufReader<File>,
    pos: u64,
    line: u64,
}

impl LineCounter {
    /// Moves to `offset`, then past any line breaks there; returns that offset and its 1-based line.
    fn locate(&mut self, offset: u64) -> std::io::Result<(u64, u64)> {
        while self.pos < offset {
            let buf = self.file.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let n = buf.len().min((offset - self.pos) as usize);
            self.line += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
            self.file.consume(n);
            self.pos += n as u64;
        }
        loop {
            let buf = self.file.fill_buf()?;
            match buf.first() {
                Some(b'\n') => self.line += 1,
                Some(b'\r') => {}
                _ => return Ok((self.pos, self.line)),
            }
            self.file.consume(1);
            self.pos += 1;
        }
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("path", &self.path).field("format", &self.format).finish_non_exhaustive()
    }
}

impl Reader {
    /// Opens `path`, choosing the format from its extension; CSV/TSV headers are read here.
    ///
    /// # Errors
    /// The file cannot be opened, or its header is malformed.
    pub fn open(path: &Path) -> Result<Reader> {
        Self::open_as(path, Format::from_path(path))
    }

    /// Opens `path` as the given format.
    ///
    /// # Errors
    /// The file cannot be opened, or its header is malformed.
    pub fn open_as(path: &Path, format: Format) -> Result<Reader> {
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(DataError::Usage(format!("{}: is a directory, not a data file", path.display())));
        }
        let mut header_end = 0;
        let (inner, header) = match format.delimiter() {
            None => (
                Inner::Lines { reader: BufReader::with_capacity(1 << 20, file), buf: Vec::new(), offset: 0, line: 0 },
                None,
            ),
            Some(delimiter) => {
                let mut reader = csv::ReaderBuilder::new()
                    .delimiter(delimiter)
                    .has_headers(true)
                    .flexible(true)
                    .buffer_capacity(1 << 20)
                    .from_reader(file);
                let header = reader
                    .byte_headers()
                    .map_err(|e| csv_error(path, 1, e))?
                    .iter()
                    .map(|h| utf8(path, 1, h).map(str::to_owned))
                    .collect::<Result<Vec<_>>>()?;
                let mut lines = LineCounter {
                    file: BufReader::new(File::open(path).map_err(|e| DataError::io(path, e))?),
                    pos: 0,
                    line: 1,
                };
                header_end = lines.locate(reader.position().byte()).map_err(|e| DataError::io(path, e))?.0;
                let inner = Inner::Delimited { reader: Box::new(reader), record: csv::ByteRecord::new(), lines };
                (inner, Some(header))
            }
        };
        Ok(Reader { path: path.to_owned(), format, header, header_end, inner, seen: 0, done: false })
    }

    /// The format being read.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The column names of a CSV/TSV file.
    pub fn header(&self) -> Option<&[String]> {
        self.header.as_deref()
    }

    /// The byte offset where the header row ends (0 for formats without one).
    pub fn header_end(&self) -> u64 {
        self.header_end
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn next_record(&mut self) -> Result<Option<Record>> {
        let path = &self.path;
        match &mut self.inner {
            Inner::Lines { reader, buf, offset, line } => loop {
                buf.clear();
                let n = reader.read_until(b'\n', buf).map_err(|e| DataError::io(path.as_path(), e))?;
                if n == 0 {
                    return Ok(None);
                }
                *line += 1;
                let start = *offset;
                *offset += n as u64;
                let text = utf8(path, *line, buf)?;
                let text = text.strip_suffix('\n').unwrap_or(text);
                let text = text.strip_suffix('\r').unwrap_or(text);
                if text.trim().is_empty() {
                    continue;
                }
                let fields = match self.format {
                    Format::Jsonl => parse_json_object(path, *line, text)?,
                    _ => {
                        let mut fields = Fields::new();
                        fields.insert(TEXT_FIELD.to_owned(), Value::String(text.to_owned()));
                        fields
                    }
                };
                return Ok(Some(Record { line: *line, span: (start, *offset), fields }));
            },
            Inner::Delimited { reader, record, lines } => {
                let (start, line) =
                    lines.locate(reader.position().byte()).map_err(|e| DataError::io(path.as_path(), e))?;
                let more = reader.read_byte_record(record).map_err(|e| csv_error(path, line, e))?;
                if !more {
                    return Ok(None);
                }
                let header = self.header.as_ref().expect("delimited files have a header");
                if record.len() != header.len() {
                    return Err(DataError::FieldCount {
                        path: path.clone(),
                        line,
                        expected: header.len(),
                        found: record.len(),
                    });
                }
                let mut fields = Fields::new();
                for (name, value) in header.iter().zip(record.iter()) {
                    let value = utf8(path, line, value)?;
                    fields.insert(name.clone(), Value::String(value.to_owned()));
                }
                Ok(Some(Record { line, span: (start, reader.position().byte()), fields }))
            }
        }
    }
}

impl Iterator for Reader {
    type Item = Result<Record>;

    /// Yields records until the end of the file or the first error (after which it yields nothing).
    /// A file without records yields one [`DataError::Empty`].
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.next_record() {
            Ok(Some(r)) => Ok(r),
            Ok(None) if self.seen == 0 => Err(DataError::Empty { path: self.path.clone() }),
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(e) => Err(e),
        };
        self.seen += 1;
        self.done = item.is_err();
        Some(item)
    }
}

/// Reads every record of `path` into memory, stopping at the first error.
///
/// # Errors
/// The first malformed record, or an empty file.
pub fn read_all(path: &Path) -> Result<(Reader, Vec<Record>)> {
    let mut reader = Reader::open(path)?;
    let records = reader.by_ref().collect::<Result<Vec<_>>>()?;
    Ok((reader, records))
}

fn utf8<'a>(path: &Path, line: u64, bytes: &'a [u8]) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|_| DataError::Utf8 { path: path.to_owned(), line })
}

fn csv_error(path: &Path, line: u64, e: csv::Error) -> DataError {
    if let csv::ErrorKind::Io(_) = e.kind() {
        let csv::ErrorKind::Io(io) = e.into_kind() else { unreachable!() };
        return DataError::io(path, io);
    }
    DataError::Csv { path: path.to_owned(), line, message: e.to_string() }
}

fn parse_json_object(path: &Path, line: u64, text: &str) -> Result<Fields> {
    let value: Value = serde_json::from_str(text).map_err(|e| DataError::Json {
        path: path.to_owned(),
        line,
        message: e.to_string(),
    })?;
    match value {
        Value::Object(fields) => Ok(fields),
        other => Err(DataError::NotObject {
            path: path.to_owned(),
            line,
            found: match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(name: &str, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::File::create(&path).unwrap().write_all(content).unwrap();
        (dir, path)
    }

    #[test]
    fn jsonl_keeps_field_order_and_spans() {
        let (_d, p) = file("a.jsonl", b"{\"z\":1,\"a\":\"x\"}\n\n{\"b\":2}");
        let (_, recs) = read_all(&p).unwrap();
        assert_eq!(recs.len(), 2);
        let keys: Vec<_> = recs[0].fields.keys().collect();
        assert_eq!(keys, ["z", "a"]);
        assert_eq!(recs[0].span, (0, 16));
        assert_eq!(recs[1].line, 3);
        assert_eq!(recs[1].span, (17, 24));
    }

    #[test]
    fn csv_quoting_follows_rfc4180() {
        let (_d, p) = file("a.csv", b"label,text\nham,\"a, \"\"quoted\"\"\nline\"\nspam,b\n");
        let (r, recs) = read_all(&p).unwrap();
        assert_eq!(r.header().unwrap(), ["label", "text"]);
        assert_eq!(recs[0].fields["text"], "a, \"quoted\"\nline");
        assert_eq!(recs[1].line, 4);
    }

    #[test]
    fn errors_name_the_line() {
        let (_d, p) = file("a.jsonl", b"{\"a\":1}\n{\"a\":\n");
        let err = read_all(&p).unwrap_err().to_string();
        assert!(err.contains("a.jsonl:2: malformed JSON"), "{err}");
        let (_d, p) = file("a.csv", b"a,b\n1,2\n3\n");
        let err = read_all(&p).unwrap_err().to_string();
        assert!(err.contains("a.csv:3: expected 2 fields as in the header, found 1"), "{err}");
        let (_d, p) = file("a.txt", b"ok\n\xff\xfe\n");
        let err = read_all(&p).unwrap_err().to_string();
        assert!(err.contains("a.txt:2: invalid UTF-8"), "{err}");
        let (_d, p) = file("a.jsonl", b"\n \n");
        let err = read_all(&p).unwrap_err().to_string();
        assert!(err.contains("holds no records"), "{err}");
        let (_d, p) = file("a.jsonl", b"[1,2]\n");
        let err = read_all(&p).unwrap_err().to_string();
        assert!(err.contains("expected a JSON object"), "{err}");
    }
}
