//! GGUF reading and HF export against the `gguf` package (llama.cpp's Python library): testdata/gguf
//! holds a tiny llama model with a tensor of every supported type and the values gguf-py dequantizes them
//! to (make_fixture.py), plus statistics of the real SmolLM2-135M file, checked when it is present
//! (`SLM_MODELS_DIR`, default ../shared/models).

use std::path::PathBuf;

use serde_json::Value as Json;
use slm_model::io::gguf::{Gguf, Value};

fn fixture(name: &str) -> PathBuf {
    slm_testkit::testdata("gguf").join(name)
}

fn expected() -> Json {
    serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap()
}

fn check_stats(name: &str, values: &[f32], want: &Json) {
    let n = want["n"].as_u64().unwrap() as usize;
    assert_eq!(values.len(), n, "{name}: length");
    let sum: f64 = values.iter().map(|&v| f64::from(v)).sum();
    let sumsq: f64 = values.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    assert!(close(sum, want["sum"].as_f64().unwrap()), "{name}: sum {sum} vs {}", want["sum"]);
    assert!(close(sumsq, want["sumsq"].as_f64().unwrap()), "{name}: sumsq {sumsq} vs {}", want["sumsq"]);
    // The fixture holds f32 values printed as f64; rounding them back to f32 recovers them exactly.
    let first: Vec<f32> = values[..8.min(n)].to_vec();
    let last: Vec<f32> = values[n.saturating_sub(8)..].to_vec();
    let as_vec = |j: &Json| -> Vec<f32> { j.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect() };
    assert_eq!(first, as_vec(&want["first"]), "{name}: first values");
    assert_eq!(last, as_vec(&want["last"]), "{name}: last values");
}

#[test]
fn tiny_model_dequantizes_exactly_like_gguf_py() {
    let g = Gguf::open(&fixture("tiny.gguf")).unwrap();
    assert_eq!(g.version, 3);
    assert_eq!(g.get("general.architecture"), Some(&Value::Str("llama".into())));
    assert_eq!(g.get("llama.block_count").and_then(Value::as_u64), Some(2));
    let want = expected();
    let tensors = want["tensors"].as_object().unwrap();
    assert_eq!(g.tensors.len(), tensors.len());
    let mut types = std::collections::BTreeSet::new();
    for t in &g.tensors {
        let w = &tensors[&t.name];
        assert_eq!(t.ggml_type.name(), w["type"].as_str().unwrap(), "{}", t.name);
        let shape: Vec<usize> = w["shape"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
        assert_eq!(t.shape(), shape, "{}", t.name);
        check_stats(&t.name, &g.to_f32(t).unwrap(), w);
        types.insert(t.ggml_type.name());
    }
    assert_eq!(types.len(), 6, "every supported type is covered: {types:?}");
}

#[test]
fn import_writes_an_hf_directory_with_unpermuted_attention() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let s = slm_model::io::gguf::import_gguf(&fixture("tiny.gguf"), &out, false).unwrap();
    assert_eq!(s.tensors, 2 + 2 * 9 + 1);
    let config: Json = serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model_type"], "llama");
    assert_eq!(config["num_key_value_heads"], 2);
    assert_eq!(config["tie_word_embeddings"], false);
    let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let want = expected();
    for (name, w) in want["hf_rows"].as_object().unwrap() {
        let t = st.tensor(name).unwrap();
        let row: Vec<f32> =
            t.data().chunks_exact(4).take(t.shape()[1]).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        check_stats(name, &row, w);
    }
    let tok = tokenizers::Tokenizer::from_file(out.join("tokenizer.json")).unwrap();
    let enc = tok.encode("To be 2024<|endoftext|>", false).unwrap();
    let digits: Vec<&str> =
        enc.get_tokens().iter().map(String::as_str).filter(|t| t.chars().all(|c| c.is_ascii_digit())).collect();
    assert_eq!(digits, ["2", "0", "2", "4"], "smollm pre-tokenizer splits digits: {:?}", enc.get_tokens());
    assert_eq!(enc.get_ids().last(), Some(&0), "control tokens are special");
    assert_eq!(tok.decode(enc.get_ids(), false).unwrap(), "To be 2024<|endoftext|>");
    // The target exists now: a second import is refused and changes nothing.
    let err = slm_model::io::gguf::import_gguf(&fixture("tiny.gguf"), &out, false).unwrap_err().to_string();
    assert!(err.contains("already exists"), "{err}");
}

/// Returns a copy of tiny.gguf with `patch` applied.
fn patched(dir: &std::path::Path, patch: impl Fn(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = std::fs::read(fixture("tiny.gguf")).unwrap();
    patch(&mut bytes);
    let p = dir.join("patched.gguf");
    std::fs::write(&p, bytes).unwrap();
    p
}

fn find(bytes: &[u8], needle: &[u8]) -> usize {
    bytes.windows(needle.len()).position(|w| w == needle).unwrap()
}

#[test]
fn bad_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let err = |p: &PathBuf| slm_model::io::gguf::import_gguf(p, &out, false).unwrap_err().to_string();
    let truncated = patched(dir.path(), |b| b.truncate(3000));
    assert!(err(&truncated).contains("truncated while reading"), "{}", err(&truncated));
    let cut_data = patched(dir.path(), |b| b.truncate(b.len() - 100));
    assert!(err(&cut_data).contains("truncated: tensor"), "{}", err(&cut_data));
    let not_gguf = patched(dir.path(), |b| b[..4].copy_from_slice(b"GGUX"));
    assert!(err(&not_gguf).contains("not a GGUF file"));
    let arch = patched(dir.path(), |b| {
        let at = find(b, b"general.architecture") + "general.architecture".len() + 4 + 8;
        b[at..at + 5].copy_from_slice(b"mamba");
    });
    assert!(err(&arch).contains("architecture `mamba` is not supported"), "{}", err(&arch));
    let q5k = patched(dir.path(), |b| {
        // output.weight: name, rank 2, two u64 dimensions, then its type
        let at = find(b, b"output.weight") + "output.weight".len() + 4 + 16;
        b[at..at + 4].copy_from_slice(&13u32.to_le_bytes());
    });
    assert!(err(&q5k).contains("Q5_K"), "{}", err(&q5k));
    assert!(!out.exists(), "a failed import left output");
}

/// The SmolLM2 GGUF (slm_testkit::model: SLM_MODELS_DIR, ../shared/models, or fetched into models/).
fn smollm2() -> PathBuf {
    slm_testkit::model(slm_testkit::SMOLLM2_GGUF)
}

#[test]
fn real_smollm2_reads_like_gguf_py() {
    let path = smollm2();
    let want = expected();
    let g = Gguf::open(&path).unwrap();
    assert_eq!(g.get("llama.block_count").and_then(Value::as_u64), Some(30));
    assert_eq!(g.get("llama.attention.head_count_kv").and_then(Value::as_u64), Some(3));
    for (name, w) in want["smollm2"].as_object().unwrap() {
        let t = g.tensor(name).unwrap();
        assert_eq!(t.ggml_type.name(), w["type"].as_str().unwrap());
        check_stats(name, &g.to_f32(t).unwrap(), w);
    }
}

/// GGUF export round trip on the real model: SmolLM2 imported from llama.cpp's Q4_1 file and exported as
/// F32 holds exactly the original's tensors (names, dimensions, every dequantized value: q/k rows back in
/// llama.cpp's order) and its `llama.*` and `tokenizer.*` metadata; Q8_0 is a quarter of the F32 size and
/// within half a quantization step of it, and it imports back into a model that slm runs.
#[test]
fn smollm2_exports_to_gguf_as_llama_cpp_wrote_it() {
    let original = Gguf::open(&smollm2()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("smollm2");
    slm_model::io::gguf::import_gguf(&smollm2(), &dir, false).unwrap();
    let mut model = slm_model::Transformer::load(&dir, &burn::prelude::Device::flex()).unwrap();
    let f32_path = tmp.path().join("f32.gguf");
    let s = slm_model::io::gguf::export_gguf(&mut model, &dir, &f32_path, slm_model::io::gguf::ExportType::F32, false)
        .unwrap();
    assert_eq!(s.tensors, original.tensors.len());
    let exported = Gguf::open(&f32_path).unwrap();
    assert_eq!(exported.version, 3);
    for t in &original.tensors {
        let e = exported.tensor(&t.name).unwrap_or_else(|| panic!("{} is missing", t.name));
        assert_eq!(e.dims, t.dims, "{}", t.name);
        assert_eq!(exported.to_f32(e).unwrap(), original.to_f32(t).unwrap(), "{}", t.name);
    }
    let compared: Vec<&String> =
        original.metadata.keys().filter(|k| k.starts_with("llama.") || k.starts_with("tokenizer.")).collect();
    assert!(compared.len() > 20, "{compared:?}");
    for key in compared {
        assert_eq!(exported.get(key), original.get(key), "{key}");
    }

    let q8_path = tmp.path().join("q8.gguf");
    slm_model::io::gguf::export_gguf(&mut model, &dir, &q8_path, slm_model::io::gguf::ExportType::Q8_0, false).unwrap();
    let (f32_size, q8_size) = (std::fs::metadata(&f32_path).unwrap().len(), std::fs::metadata(&q8_path).unwrap().len());
    assert!((q8_size as f64) < 0.28 * f32_size as f64, "q8_0 {q8_size} vs f32 {f32_size}");
    let q8 = Gguf::open(&q8_path).unwrap();
    let q = q8.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!(q.ggml_type.name(), "Q8_0");
    let (a, b) = (q8.to_f32(q).unwrap(), exported.to_f32(exported.tensor("blk.0.attn_q.weight").unwrap()).unwrap());
    for (qa, fb) in a.chunks(32).zip(b.chunks(32)) {
        let step = fb.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
        assert!(qa.iter().zip(fb).all(|(x, y)| (x - y).abs() <= 0.57 * step));
    }
    let back = tmp.path().join("back");
    slm_model::io::gguf::import_gguf(&q8_path, &back, false).unwrap();
    let model = slm_model::Transformer::load(&back, &burn::prelude::Device::flex()).unwrap();
    assert_eq!(model.config.num_layers, 30);
}

#[test]
fn gguf_export_refuses_what_llama_cpp_cannot_run() {
    let root = slm_testkit::testdata("hf");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.gguf");
    for (family, why) in [("gpt2", "a GPT-2 model"), ("qwen2", "q/k/v biases"), ("llama", "a WordLevel tokenizer")] {
        let dir = root.join(family).join("model");
        let mut model = slm_model::Transformer::load(&dir, &burn::prelude::Device::flex()).unwrap();
        let err = slm_model::io::gguf::export_gguf(&mut model, &dir, &out, slm_model::io::gguf::ExportType::F32, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains(why), "{family}: {err}");
        assert!(!out.exists(), "{family}: a refused export left a file");
    }
}

/// Inputs that crashed the `gguf` fuzz target (testdata/gguf/fuzz/): each is now one error, never a panic.
#[test]
fn fuzz_crashes_are_errors() {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(slm_testkit::testdata("gguf/fuzz")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let Ok(g) = slm_model::io::gguf::Gguf::open(&path) else { continue };
        for t in &g.tensors {
            let _ = g.to_f32(t);
        }
        let _ = slm_model::io::gguf::to_hf_tokenizer(&g);
    }
    // The first crash: sizes and offsets that overflowed 64 bits.
    let err = match slm_model::io::gguf::Gguf::open(&slm_testkit::testdata("gguf/fuzz/offset-overflow.gguf")) {
        Err(e) => e.to_string(),
        Ok(g) => g.tensors.iter().find_map(|t| g.to_f32(t).err()).expect("an error").to_string(),
    };
    assert!(err.contains("too many elements") || err.contains("truncated: tensor"), "{err}");
}
