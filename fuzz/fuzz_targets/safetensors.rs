//! safetensors files (header and data): open, list, and read every tensor as f32, or one error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    std::fs::write(&path, data).unwrap();
    if let Ok(w) = slm_model::io::safetensors::Weights::open(&path) {
        for name in w.names().unwrap_or_default() {
            let _ = w.raw(&name);
        }
    }
});
