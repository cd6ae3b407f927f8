use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::NamedTempFile;

use super::{Fields, Format, TEXT_FIELD};
use crate::error::{DataError, Result};

/// A file written atomically: bytes go to a temporary file beside the target, which replaces the target
/// only on [`AtomicFile::commit`]. Dropped without a commit, it leaves nothing behind.
pub struct AtomicFile {
    path: PathBuf,
    out: BufWriter<NamedTempFile>,
}

impl AtomicFile {
    /// Prepares to write `path`.
    ///
    /// # Errors
    /// `path` is a directory, or it exists and `overwrite` is false, or its directory cannot be written.
    pub fn create(path: &Path, overwrite: bool) -> Result<AtomicFile> {
        if path.is_dir() {
            return Err(output_error(path, "is a directory, expected a file path"));
        }
        if path.exists() && !overwrite {
            return Err(output_error(path, "already exists; pass --force to overwrite it"));
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if dir.is_file() {
            return Err(output_error(dir, "is a file, expected a directory"));
        }
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
        let tmp = tempfile::Builder::new().prefix(".slm-tmp-").tempfile_in(dir).map_err(|e| DataError::io(dir, e))?;
        Ok(AtomicFile { path: path.to_owned(), out: BufWriter::with_capacity(1 << 20, tmp) })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends bytes.
    ///
    /// # Errors
    /// The write fails (disk full, ...).
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(|e| DataError::io(&self.path, e))
    }

    /// Flushes and renames the temporary file onto the final path.
    ///
    /// # Errors
    /// The flush or the rename fails; the temporary file is removed.
    pub fn commit(self) -> Result<()> {
        let path = self.path;
        let tmp = self.out.into_inner().map_err(|e| DataError::io(&path, e.into_error()))?;
        // Temporary files are created private (0600); a result file gets the usual rw-r--r--.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
                .map_err(|e| DataError::io(&path, e))?;
        }
        tmp.persist(&path).map_err(|e| DataError::io(&path, e.error))?;
        Ok(())
    }
}

fn output_error(path: &Path, problem: &str) -> DataError {
    DataError::Output { path: path.to_owned(), problem: problem.to_owned() }
}

/// Refuses an output path that names one of the inputs, so that no command ever modifies its input.
///
/// # Errors
/// `output` and one of `inputs` are the same file.
pub fn ensure_distinct(output: &Path, inputs: &[&Path]) -> Result<()> {
    let Ok(out) = output.canonicalize() else {
        return Ok(()); // does not exist yet, so it is no input
    };
    for input in inputs {
        if input.canonicalize().is_ok_and(|i| i == out) {
            return Err(output_error(output, "is also an input; slm never modifies its input"));
        }
    }
    Ok(())
}

/// Writes records in one of the [`Format`]s, atomically.
pub struct Writer {
    file: AtomicFile,
    format: Format,
    columns: Vec<String>,
    line: Vec<u8>,
}

impl Writer {
    /// Creates a writer for `path`. CSV/TSV outputs get `columns` as their header; JSON Lines ignores it.
    ///
    /// # Errors
    /// As [`AtomicFile::create`].
    pub fn create(path: &Path, format: Format, columns: Vec<String>, overwrite: bool) -> Result<Writer> {
        let mut writer = Writer { file: AtomicFile::create(path, overwrite)?, format, columns, line: Vec::new() };
        if format.delimiter().is_some() {
            let header = writer.columns.clone();
            writer.write_row(header.iter().map(String::as_str))?;
        }
        Ok(writer)
    }

    /// Appends one record. CSV/TSV write the header's columns in order (a missing field is empty); plain
    /// text writes the `text` field.
    ///
    /// # Errors
    /// The write fails.
    pub fn write(&mut self, fields: &Fields) -> Result<()> {
        match self.format {
            Format::Jsonl => {
                self.line.clear();
                serde_json::to_writer(&mut self.line, fields).expect("a JSON map serializes");
                self.line.push(b'\n');
                self.file.write_all(&self.line)
            }
            Format::Text => {
                let text = fields.get(TEXT_FIELD).map(cell).unwrap_or_default();
                self.file.write_all(text.as_bytes())?;
                self.file.write_all(b"\n")
            }
            Format::Csv | Format::Tsv => {
                let cells: Vec<String> =
                    self.columns.iter().map(|c| fields.get(c).map(cell).unwrap_or_default()).collect();
                self.write_row(cells.iter().map(String::as_str))
            }
        }
    }

    fn write_row<'a>(&mut self, cells: impl Iterator<Item = &'a str>) -> Result<()> {
        let delimiter = self.format.delimiter().expect("delimited format");
        self.line.clear();
        {
            let mut w = csv::WriterBuilder::new().delimiter(delimiter).from_writer(&mut self.line);
            w.write_record(cells)
                .and_then(|_| w.flush().map_err(Into::into))
                .expect("writing CSV to memory cannot fail");
        }
        self.file.write_all(&self.line)
    }

    /// Finishes the file; see [`AtomicFile::commit`].
    ///
    /// # Errors
    /// As [`AtomicFile::commit`].
    pub fn commit(self) -> Result<()> {
        self.file.commit()
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::read_all;

    #[test]
    fn uncommitted_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut f = AtomicFile::create(&path, false).unwrap();
        f.write_all(b"partial").unwrap();
        drop(f);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn existing_output_is_refused_without_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        std::fs::write(&path, "keep").unwrap();
        let err = AtomicFile::create(&path, false).err().unwrap().to_string();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep");
    }

    #[test]
    fn csv_round_trip_keeps_quoting_and_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.csv");
        let mut w = Writer::create(&path, Format::Csv, vec!["a".into(), "b".into()], false).unwrap();
        let mut f = Fields::new();
        f.insert("b".into(), "x, \"y\"\nz".into());
        f.insert("a".into(), 3.into());
        w.write(&f).unwrap();
        w.commit().unwrap();
        let (_, recs) = read_all(&path).unwrap();
        assert_eq!(recs[0].fields["a"], "3");
        assert_eq!(recs[0].fields["b"], "x, \"y\"\nz");
    }
}
