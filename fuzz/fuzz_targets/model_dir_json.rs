//! The JSON files of a model directory: config.json, tokenizer.json, tokenizer_config.json (with its chat
//! template, rendered), generation_config.json and a PEFT adapter_config.json. The input is five
//! NUL-separated files; each is read as slm reads it, giving a value or one error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let dir = tempfile::tempdir().unwrap();
    let mut parts = data.split('\0');
    for name in
        ["config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json", "adapter_config.json"]
    {
        std::fs::write(dir.path().join(name), parts.next().unwrap_or_default()).unwrap();
    }
    let _ = slm_model::Config::load(dir.path());
    let _ = slm_data::tokenizer::load(&dir.path().join("tokenizer.json"));
    if let Ok(Some(template)) = slm_model::generate::chat::ChatTemplate::load(dir.path()) {
        let messages = [("user".to_owned(), "hi".to_owned()), ("assistant".to_owned(), "ok".to_owned())];
        let _ = template.render(&messages, true);
    }
    let _ = slm_model::io::model_dir::read_json_if_present(dir.path(), "generation_config.json");
    let _ = slm_model::io::peft::read_config(dir.path());
});
