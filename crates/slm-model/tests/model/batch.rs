//! Dynamic batching gives each prompt the tokens a single generation gives it, whatever the batch width
//! and however prompts of different lengths come and go (tiny GPT-2 and GQA Llama models).

use burn::prelude::*;
use slm_model::generate::sampling::SamplingOptions;
use slm_model::generate::{GenerateOptions, Generator};

fn generator(name: &str) -> Generator {
    let dir = slm_testkit::testdata("hf").join(name).join("model");
    Generator::load(&dir, &Device::flex()).unwrap()
}

const PROMPTS: [&str; 6] = ["ROMEO:", "First Citizen:\nWe", "O", "KING RICHARD II:\nNo, ", "All:\n", "Speak, speak."];

fn check(name: &str, opts: &GenerateOptions) {
    let g = generator(name);
    let prompts: Vec<String> = PROMPTS.iter().map(|p| p.to_string()).collect();
    let single: Vec<Vec<u32>> = prompts.iter().map(|p| g.generate(p, opts, |_| {}).unwrap().tokens).collect();
    assert!(single.iter().any(|t| !t.is_empty()), "{name}: nothing generated");
    for width in [1, 2, 4, 8] {
        let mut got = vec![Vec::new(); prompts.len()];
        let mut order = Vec::new();
        g.generate_batched(&prompts, opts, width, |o| {
            order.push(o.id);
            got[o.id] = o.tokens;
        })
        .unwrap();
        assert_eq!(got, single, "{name}, width {width}");
        let mut seen = order.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..prompts.len()).collect::<Vec<_>>(), "every prompt once");
    }
}

#[test]
fn batched_greedy_equals_single_generation() {
    let opts = GenerateOptions { max_new_tokens: 10, ..GenerateOptions::default() };
    check("slm_gpt2", &opts);
    check("slm_llama", &opts);
}

#[test]
fn batched_sampling_equals_single_generation() {
    let sampling = SamplingOptions { temperature: 0.9, top_k: 20, seed: 7, ..SamplingOptions::default() };
    let opts = GenerateOptions { max_new_tokens: 8, sampling, ..GenerateOptions::default() };
    check("slm_llama", &opts);
}

#[test]
fn rows_that_stop_early_leave_and_waiting_prompts_join() {
    // A stop string ends rows after different numbers of tokens, so rows leave mid-batch and waiting
    // prompts are prefilled into their places.
    let opts = GenerateOptions { max_new_tokens: 12, stop: vec!["?".into(), ".".into()], ..GenerateOptions::default() };
    // The random (untrained) Llama of the transformers fixture: its greedy text depends on the prompt.
    let g = generator("llama");
    let lengths: Vec<usize> = PROMPTS.iter().map(|p| g.generate(p, &opts, |_| {}).unwrap().tokens.len()).collect();
    assert!(lengths.iter().min() != lengths.iter().max(), "rows should finish at different times: {lengths:?}");
    check("llama", &opts);
}
