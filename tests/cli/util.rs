//! Helpers shared by the end-to-end tests: run the `slm` binary and inspect what it did; where the
//! repository's data is (from slm-testkit).

use std::path::Path;
use std::process::{Command, Output};

pub use slm_testkit::{dataset, root, testdata};

/// Runs `slm` with `args` in `dir`.
pub fn slm_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slm")).args(args).current_dir(dir).env("NO_COLOR", "1").output().expect("slm runs")
}

/// The tiny Llama of testdata/gguf, imported into `dir/name`; returns the model directory.
pub fn import_tiny(dir: &Path, name: &str) -> String {
    let model = dir.join(name);
    let o = slm(&["import", testdata("gguf/tiny.gguf").to_str().unwrap(), "--out", model.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    model.to_str().unwrap().to_owned()
}

/// Runs `slm` with `args` in the repository root, with the environment variable `key` set to `value`.
pub fn slm_env(key: &str, value: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slm"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env(key, value)
        .output()
        .expect("slm runs")
}

/// Runs `slm` with `args` in the repository root.
pub fn slm(args: &[&str]) -> Output {
    slm_in(&root(), args)
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the process failed with exit code 2 and exactly one stderr line, an `error:` sentence that
/// contains every piece of `expected`; returns that line.
pub fn assert_bad_input(o: &Output, expected: &[&str]) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "expected exit 2, stderr: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for piece in expected {
        assert!(lines[0].contains(piece), "`{piece}` missing from: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    lines[0].to_owned()
}

/// The names of the entries of a directory, sorted.
pub fn ls(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// Parses stdout as one JSON object.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(o)))
}
