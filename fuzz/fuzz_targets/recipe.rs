//! Recipe TOML with `--set` overrides: the recipe, then NUL-separated overrides; a bad one is one
//! sentence, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let mut parts = data.split('\0');
    let text = parts.next().unwrap_or_default();
    let overrides: Vec<String> = parts.map(str::to_owned).collect();
    let _ = slm_train::Recipe::parse(text, &overrides);
});
