//! Writing a model directory safely: it is assembled under a temporary name beside the target and
//! renamed into place, so a failure leaves nothing behind and an existing directory is replaced only when
//! asked.

use std::path::Path;

use crate::error::{ModelError, Result};

/// Writes `value` as pretty-printed JSON to `dir/name`.
pub fn write_json(dir: &Path, name: &str, value: &serde_json::Value) -> Result<()> {
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(value).expect("JSON serializes") + "\n";
    std::fs::write(&path, text).map_err(|e| ModelError::Io { path, source: e })
}

/// Copies the files `names` that exist in `from` into `to`.
pub fn copy_present(from: &Path, to: &Path, names: &[&str]) -> Result<()> {
    for name in names {
        let src = from.join(name);
        if src.exists() {
            std::fs::copy(&src, to.join(name)).map_err(|e| ModelError::Io { path: src, source: e })?;
        }
    }
    Ok(())
}

/// Refuses an existing output directory unless `overwrite`.
pub fn refuse_existing(out: &Path, overwrite: bool) -> Result<()> {
    if out.exists() && !overwrite {
        return Err(ModelError::Data(slm_data::DataError::Output {
            path: out.to_owned(),
            problem: "already exists; pass --force to replace it".into(),
        }));
    }
    Ok(())
}

/// A temporary directory beside `out` in which a model directory is assembled.
pub fn staging_dir(out: &Path) -> Result<tempfile::TempDir> {
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| ModelError::Io { path: parent.to_owned(), source: e })?;
    tempfile::Builder::new()
        .prefix(".slm-import-")
        .tempdir_in(parent)
        .map_err(|e| ModelError::Io { path: parent.to_owned(), source: e })
}

/// Moves an assembled model directory into place (replacing `out` if it exists), readable by all as a
/// model directory should be (temporary directories are private).
pub fn publish(tmp: tempfile::TempDir, out: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(|e| ModelError::Io { path: tmp.path().to_owned(), source: e })?;
    }
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(|e| ModelError::Io { path: out.to_owned(), source: e })?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, out).map_err(|e| ModelError::Io { path: out.to_owned(), source: e })
}

/// The JSON object of `dir/name`, or `None` when the file does not exist (an optional file of a model
/// directory, such as `generation_config.json`).
///
/// # Errors
/// The file exists but cannot be read, is not JSON, or is not a JSON object.
pub fn read_json_if_present(dir: &Path, name: &str) -> Result<Option<serde_json::Value>> {
    let path = dir.join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ModelError::Io { path, source: e }),
    };
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ModelError::format(&path, format!("not valid JSON (line {}): {e}", e.line())))?;
    if !value.is_object() {
        return Err(ModelError::format(&path, "is not a JSON object"));
    }
    Ok(Some(value))
}

/// The `tokenizer.json` of a model directory.
///
/// # Errors
/// The file is missing or not a tokenizer.
pub fn read_tokenizer(dir: &Path) -> Result<tokenizers::Tokenizer> {
    let path = dir.join("tokenizer.json");
    slm_data::tokenizer::load(&path)
        .map_err(|e| crate::ModelError::format(&path, format!("not a valid tokenizer: {e}")))
}
