//! GGUF files: any bytes either open (and every tensor then dequantizes or errors) or give one error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    std::fs::write(&path, data).unwrap();
    if let Ok(g) = slm_model::io::gguf::Gguf::open(&path) {
        for t in &g.tensors {
            let _ = g.to_f32(t);
        }
        let _ = slm_model::io::gguf::to_hf_tokenizer(&g);
    }
});
