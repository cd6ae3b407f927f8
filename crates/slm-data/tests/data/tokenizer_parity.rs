//! Python `tokenizers` loads the tokenizer.json files slm writes and encodes identically: the ids in
//! testdata/tokenizer/expected.json were produced by Python from the committed bpe.json and
//! char.json (see make_fixture.py there).

use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    slm_testkit::testdata("tokenizer").join(name)
}

#[test]
fn slm_tokenizers_encode_like_python() {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap();
    let lines: Vec<String> = std::fs::read_to_string(fixture("lines.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(lines.len(), 60);
    for kind in ["bpe", "char"] {
        let path = fixture(&format!("{kind}.json"));
        let tok = slm_data::tokenizer::load(&path).unwrap();
        for (i, line) in lines.iter().enumerate() {
            let ids = slm_data::tokenizer::encode(&tok, &path, line).unwrap();
            let want: Vec<u32> = serde_json::from_value(expected[kind][i].clone()).unwrap();
            assert_eq!(ids, want, "{kind} line {i}: {line:?}");
        }
    }
}

/// Files on which the tokenizers library itself panics (found by the `model_dir_json` fuzz target): a
/// truncated `decoder`, and well-formed JSON with an unreadable `Precompiled` normalizer. Each is one error
/// naming the file.
#[test]
fn malformed_tokenizer_files_are_errors_not_panics() {
    for name in ["truncated-decoder.json", "bad-precompiled.json"] {
        let path = slm_testkit::testdata("tokenizer/fuzz").join(name);
        let err = slm_data::tokenizer::load(&path).err().unwrap_or_else(|| panic!("{name} loaded"));
        assert!(err.to_string().contains(name), "{err}");
    }
}
