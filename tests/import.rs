//! `slm import` end to end: a GGUF file becomes an HF model directory; bad files are one sentence, exit 2.

mod common;

use common::*;

#[test]
fn import_gguf_then_refuse_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let tiny = root().join("tests/fixtures/gguf/tiny.gguf");
    let o = slm(&["import", tiny.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        ls(&out),
        [
            "config.json",
            "generation_config.json",
            "model.safetensors",
            "slm.json",
            "tokenizer.json",
            "tokenizer_config.json"
        ]
    );
    let o = slm(&["import", tiny.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_bad_input(&o, &["already exists", "--force"]);
    let o = slm(&["import", tiny.to_str().unwrap(), "--out", out.to_str().unwrap(), "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn bad_gguf_files_exit_2_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.gguf");
    std::fs::write(&bad, b"GGUF\x03\x00\x00\x00\x01").unwrap();
    let out = dir.path().join("m");
    let o = slm(&["import", bad.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_bad_input(&o, &["bad.gguf", "truncated while reading the tensor count"]);
    let o = slm(&["import", dir.path().join("missing.gguf").to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_bad_input(&o, &["missing.gguf"]);
    assert!(!out.exists());
    assert_eq!(ls(dir.path()), ["bad.gguf"], "no temporary directory left behind");
}
