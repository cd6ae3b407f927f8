//! `slm import` end to end: a GGUF file becomes an HF model directory; bad files are one sentence, exit 2.

use crate::util::*;

#[test]
fn import_gguf_then_refuse_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let tiny = testdata("gguf/tiny.gguf");
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

#[test]
fn import_an_hf_directory_and_generate_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("a"), dir.path().join("b"));
    let tiny = testdata("gguf/tiny.gguf");
    assert!(slm(&["import", tiny.to_str().unwrap(), "--out", first.to_str().unwrap()]).status.success());
    let o = slm(&["import", first.to_str().unwrap(), "--out", second.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let generate = |m: &std::path::Path| {
        let o = slm(&["generate", "--model", m.to_str().unwrap(), "--prompt", "To be", "--max-new-tokens", "8"]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    assert_eq!(generate(&first), generate(&second));
    // A directory of another architecture is refused.
    let gpt = dir.path().join("gpt");
    std::fs::create_dir(&gpt).unwrap();
    std::fs::write(gpt.join("config.json"), r#"{"model_type": "bert"}"#).unwrap();
    assert_bad_input(
        &slm(&["import", gpt.to_str().unwrap(), "--out", dir.path().join("c").to_str().unwrap()]),
        &["bert"],
    );
}

#[test]
fn export_writes_an_hf_directory_with_the_same_tensors() {
    let tmp = tempfile::tempdir().unwrap();
    let src = testdata("hf/llama/model");
    let out = tmp.path().join("exported");
    let out_s = out.display().to_string();
    let o = crate::util::slm(&["export", &src.display().to_string(), "--format", "hf", "--out", &out_s]);
    assert!(o.status.success(), "{}", crate::util::stderr(&o));
    for f in ["config.json", "model.safetensors", "tokenizer.json", "generation_config.json"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "LlamaForCausalLM");
    assert_eq!(config["num_key_value_heads"], 2);
    // Same tensor names, shapes and bytes as transformers' own save_pretrained.
    let names = |p: &std::path::Path| {
        let bytes = std::fs::read(p.join("model.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut v: Vec<(String, Vec<usize>, Vec<u8>)> =
            st.tensors().into_iter().map(|(n, t)| (n, t.shape().to_vec(), t.data().to_vec())).collect();
        v.sort();
        v
    };
    assert!(names(&src) == names(&out), "tensors differ");
    let again = crate::util::slm(&["export", &src.display().to_string(), "--out", &out_s]);
    crate::util::assert_bad_input(&again, &["already exists", "--force"]);
    let bad = crate::util::slm(&["export", &src.display().to_string(), "--format", "onnx", "--out", &out_s]);
    crate::util::assert_bad_input(&bad, &["invalid value 'onnx' for '--format", "possible values: hf, gguf"]);
}

#[test]
fn quantize_stores_half_and_int8_models_that_still_run() {
    let tmp = tempfile::tempdir().unwrap();
    let src = testdata("hf/slm_llama/model");
    let src_s = src.display().to_string();
    let size = |p: &std::path::Path| std::fs::metadata(p.join("model.safetensors")).unwrap().len() as f64;
    let text = tmp.path().join("text.txt");
    let shakespeare = std::fs::read_to_string(crate::util::dataset("tinyshakespeare/input.txt")).unwrap();
    std::fs::write(&text, &shakespeare[..4000]).unwrap();
    // Perplexity of `model` on the text, and KL(f32 model ‖ model) of next-token distributions.
    let score = |model: &str| {
        let text = text.display().to_string();
        let args = ["eval", "--metric", "perplexity", "--model", model, "--reference-model", &src_s];
        let o = crate::util::slm(&[&args[..], &["--data", &text, "--window", "32", "--json"]].concat());
        assert!(o.status.success(), "{}", crate::util::stderr(&o));
        let j = crate::util::json(&o);
        (j["perplexity"].as_f64().unwrap(), j["kl_from_reference"].as_f64().unwrap())
    };
    let (base, self_kl) = score(&src_s);
    assert!(self_kl.abs() < 1e-6, "KL of the model to itself: {self_kl}");
    for (to, max_ratio, max_kl) in [("f16", 0.55, 1e-4), ("bf16", 0.55, 1e-3), ("int8", 0.75, 0.01)] {
        let out = tmp.path().join(to);
        let o = crate::util::slm(&["quantize", &src_s, "--to", to, "--out", &out.display().to_string()]);
        assert!(o.status.success(), "{}", crate::util::stderr(&o));
        assert!(size(&out) < max_ratio * size(&src), "{to}: {} of {}", size(&out), size(&src));
        let (q, kl) = score(&out.display().to_string());
        assert!((q / base - 1.0).abs() < 0.02, "{to}: perplexity {q} vs f32 {base}");
        assert!(kl > -1e-6 && kl < max_kl, "{to}: KL {kl}");
        let slm_json = std::fs::read_to_string(out.join("slm.json")).unwrap();
        assert!(slm_json.contains(&format!("\"method\": \"{to}\"")), "{slm_json}");
    }
    let again = crate::util::slm(&[
        "quantize",
        &tmp.path().join("int8").display().to_string(),
        "--to",
        "int8",
        "--out",
        &tmp.path().join("again").display().to_string(),
    ]);
    crate::util::assert_bad_input(&again, &["already quantized"]);
    let bad =
        crate::util::slm(&["quantize", &src_s, "--to", "int4", "--out", &tmp.path().join("x").display().to_string()]);
    crate::util::assert_bad_input(&bad, &["invalid value 'int4' for '--to", "possible values: f16, bf16, int8"]);
}
