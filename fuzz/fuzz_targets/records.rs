//! JSONL, CSV, TSV and text records: any bytes read as each format either give records or one error,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["jsonl", "csv", "tsv", "txt"] {
        let path = dir.path().join(format!("in.{ext}"));
        std::fs::write(&path, data).unwrap();
        if let Ok(reader) = slm_data::records::Reader::open(&path) {
            for record in reader {
                if record.is_err() {
                    break;
                }
            }
        }
    }
});
