//! The Llama model and greedy generation on the tiny GGUF fixture: the KV cache gives the same logits and
//! the same tokens as recomputing the whole sequence.

use std::path::PathBuf;

use burn::prelude::*;
use slm_model::generate::{GenerateOptions, Generator};

fn tiny_model(dir: &std::path::Path) -> PathBuf {
    let gguf = slm_testkit::testdata("gguf/tiny.gguf");
    let out = dir.join("tiny");
    slm_model::io::gguf::import_gguf(&gguf, &out, false).unwrap();
    out
}

fn ids(device: &Device, ids: &[i64]) -> Tensor<2, Int> {
    Tensor::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), device)
}

#[test]
fn cached_logits_equal_full_recomputation() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let g = Generator::load(&tiny_model(dir.path()), &device).unwrap();
    let tokens = [5i64, 17, 300, 42, 9, 1000, 3, 77];
    let full = g.model.forward(ids(&device, &tokens), &mut g.model.cache());
    assert_eq!(full.dims(), [1, 8, 2048]);
    let full: Vec<f32> = full.into_data().try_to_vec().unwrap();
    let mut cache = g.model.cache();
    let mut step = Vec::new();
    let first = g.model.forward(ids(&device, &tokens[..3]), &mut cache);
    step.extend(first.into_data().try_to_vec::<f32>().unwrap());
    for &t in &tokens[3..] {
        step.extend(g.model.forward(ids(&device, &[t]), &mut cache).into_data().try_to_vec::<f32>().unwrap());
    }
    assert_eq!(full.len(), step.len());
    let max_diff = full.iter().zip(&step).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(max_diff < 1e-4, "cached and full logits differ by {max_diff}");
}

#[test]
fn cached_and_uncached_generation_give_the_same_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let g = Generator::load(&tiny_model(dir.path()), &device).unwrap();
    let run = |use_cache| {
        g.generate(
            "To be, or not",
            &GenerateOptions { max_new_tokens: 12, use_cache, ..GenerateOptions::default() },
            |_| {},
        )
        .unwrap()
    };
    let (cached, uncached) = (run(true), run(false));
    assert_eq!(cached.tokens, uncached.tokens);
    assert_eq!(cached.prompt_tokens, g.encode("To be, or not").unwrap().len());
    assert!(!cached.tokens.is_empty());
}

#[test]
fn sampling_is_reproducible_and_top_k_one_is_greedy() {
    use slm_model::generate::sampling::SamplingOptions;
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let g = Generator::load(&tiny_model(dir.path()), &device).unwrap();
    let run = |sampling: SamplingOptions| {
        let opts = GenerateOptions { max_new_tokens: 16, use_cache: true, sampling, ..GenerateOptions::default() };
        g.generate("To be, or not", &opts, |_| {}).unwrap().tokens
    };
    let greedy = run(SamplingOptions::default());
    let top1 = run(SamplingOptions { temperature: 1.5, top_k: 1, seed: 9, ..SamplingOptions::default() });
    assert_eq!(greedy, top1);
    let hot = SamplingOptions { temperature: 1.5, seed: 7, ..SamplingOptions::default() };
    assert_eq!(run(hot.clone()), run(hot.clone()));
    assert_ne!(run(hot), greedy, "sampling at temperature 1.5 from a random model should leave the greedy path");
}

#[test]
fn stop_strings_end_generation_and_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let g = Generator::load(&tiny_model(dir.path()), &device).unwrap();
    let free =
        g.generate("To be", &GenerateOptions { max_new_tokens: 16, ..GenerateOptions::default() }, |_| {}).unwrap();
    assert!(free.tokens.len() >= 4, "{free:?}");
    // Stop at the text of the third token: generation ends there and the text is cut before it.
    let third = g.decode(&free.tokens[2..3]).unwrap();
    assert!(!third.is_empty());
    let opts = GenerateOptions { max_new_tokens: 16, stop: vec![third.clone()], ..GenerateOptions::default() };
    let stopped = g.generate("To be", &opts, |_| {}).unwrap();
    assert!(stopped.tokens.len() <= 3, "{stopped:?}");
    assert!(!stopped.text.contains(&third) && free.text.starts_with(&stopped.text), "{stopped:?} vs {free:?}");
}

#[test]
fn beam_search_of_width_one_is_greedy_and_scores_are_exact() {
    use slm_model::generate::beam::{BeamOptions, EarlyStopping, beam_search};
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let g = Generator::load(&tiny_model(dir.path()), &device).unwrap();
    let greedy =
        g.generate("To be", &GenerateOptions { max_new_tokens: 10, ..GenerateOptions::default() }, |_| {}).unwrap();
    let one = BeamOptions { beams: 1, length_penalty: 0.0, early_stopping: EarlyStopping::WhenFull };
    let opts = GenerateOptions { max_new_tokens: 10, beam: Some(one), ..GenerateOptions::default() };
    assert_eq!(g.generate("To be", &opts, |_| {}).unwrap().tokens, greedy.tokens);
    // Width 4: the returned log-probability is the model's log-probability of the returned tokens.
    let prompt = g.encode("To be").unwrap();
    let four = BeamOptions { beams: 4, length_penalty: 0.0, early_stopping: EarlyStopping::Never };
    let (tokens, log_prob) = beam_search(&g.model, &prompt, 10, &[], &four);
    assert_eq!(tokens.len(), 10);
    let all: Vec<u32> = prompt.iter().chain(&tokens).copied().collect();
    let lp = slm_model::score::next_token_log_probs(&g.model, &all);
    let recomputed: f64 = lp[prompt.len() - 1..].iter().sum();
    assert!((recomputed - log_prob).abs() < 1e-3, "beam says {log_prob}, model says {recomputed}");
}

/// Checks every case of a beam fixture (written by testdata/hf/make_beam_fixtures.py from transformers'
/// `generate(num_beams=…)`): the same `beams` finished hypotheses, in the same order, with the same scores —
/// so the same best continuation, and the search stopped at the same step. Returns how many cases' best
/// hypothesis ended at a stop token and how many ran to the length limit.
pub fn check_beam_cases(
    fixture: &std::path::Path,
    model_of: impl Fn(&str) -> slm_model::Transformer,
) -> (usize, usize) {
    use slm_model::generate::beam::{BeamOptions, EarlyStopping, finished_hypotheses};
    let expected: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let mut models = std::collections::HashMap::new();
    let ids = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect();
    let (mut early, mut full) = (0, 0);
    for case in expected["cases"].as_array().unwrap() {
        let early_stopping = match &case["early_stopping"] {
            serde_json::Value::Bool(true) => EarlyStopping::WhenFull,
            serde_json::Value::Bool(false) => EarlyStopping::Heuristic,
            _ => EarlyStopping::Never,
        };
        let opts = BeamOptions {
            beams: case["beams"].as_u64().unwrap() as usize,
            length_penalty: case["length_penalty"].as_f64().unwrap() as f32,
            early_stopping,
        };
        let max_new = case["max_new_tokens"].as_u64().unwrap() as usize;
        let stop = [case["stop"].as_u64().unwrap() as u32];
        let family = case["family"].as_str().unwrap();
        let model = models.entry(family.to_owned()).or_insert_with(|| model_of(family));
        let prompt: Vec<u32> = ids(&case["prompt_ids"]);
        let got = finished_hypotheses(model, &prompt, max_new, &stop, &opts);
        let want: Vec<Vec<u32>> = case["hypotheses"].as_array().unwrap().iter().map(ids).collect();
        let tokens: Vec<Vec<u32>> = got.iter().map(|h| h.tokens.clone()).collect();
        assert_eq!(tokens, want, "{case}");
        for (h, score) in got.iter().zip(case["scores"].as_array().unwrap()) {
            let score = score.as_f64().unwrap();
            assert!((h.score - score).abs() < 1e-4 * score.abs().max(1.0), "{h:?} vs {score}: {case}");
        }
        if want[0].len() < max_new { early += 1 } else { full += 1 }
    }
    (early, full)
}

/// transformers' beam search on the tiny GPT-2 and Llama checkpoints: widths 2–6, length penalties −2 to 3,
/// every `early_stopping`.
#[test]
fn beam_search_equals_transformers_generate() {
    let fixtures = slm_testkit::testdata("hf");
    let (early, full) = check_beam_cases(&fixtures.join("beam_expected.json"), |family| {
        slm_model::Transformer::load(&fixtures.join(family).join("model"), &Device::flex()).unwrap()
    });
    assert!(early >= 20 && full >= 20, "the cases cover stopped ({early}) and full-length ({full}) winners");
}
