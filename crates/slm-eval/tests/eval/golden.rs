//! slm's BLEU, chrF and ROUGE against golden values from sacrebleu 2.6.0, rouge-score 0.1.2 and NLTK
//! 3.10.4 on real data (FLORES-200, TICO-19, SciTLDR) and edge cases. The inputs and the script that
//! produced golden.json are in testdata/eval/. Agreement is required to 1e-9 on every score (the
//! issue asks for 0.005 on BLEU/chrF and 1e-6 on ROUGE) and exactly on every n-gram count.

use std::path::PathBuf;

use serde_json::Value;
use slm_eval::bleu::{self, BleuConfig, Smooth, Tokenizer};
use slm_eval::chrf::{self, ChrfConfig};
use slm_eval::rouge::{self, RougeConfig, RougeTokenizer, RougeType};
use slm_eval::segments::{Corpus, read_lines};

const TOL: f64 = 1e-9;

fn fixture(name: &str) -> PathBuf {
    slm_testkit::testdata("eval").join(name)
}

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("golden.json")).unwrap()).unwrap()
}

fn corpus(case: &Value) -> Corpus {
    let refs: Vec<PathBuf> = case["refs"].as_array().unwrap().iter().map(|r| fixture(r.as_str().unwrap())).collect();
    Corpus::read(&fixture(case["hyp"].as_str().unwrap()), &refs).unwrap()
}

fn bleu_config(opts: &Value) -> BleuConfig {
    BleuConfig {
        tokenizer: Tokenizer::parse(opts.get("tokenize").and_then(Value::as_str).unwrap_or("13a")).unwrap(),
        lowercase: opts.get("lowercase").and_then(Value::as_bool).unwrap_or(false),
        smooth: Smooth::parse(
            opts.get("smooth_method").and_then(Value::as_str).unwrap_or("exp"),
            opts.get("smooth_value").and_then(Value::as_f64),
        )
        .unwrap(),
        effective_order: false,
    }
}

fn chrf_config(opts: &Value) -> ChrfConfig {
    ChrfConfig {
        word_order: opts.get("word_order").and_then(Value::as_u64).unwrap_or(0) as usize,
        lowercase: opts.get("lowercase").and_then(Value::as_bool).unwrap_or(false),
        ..ChrfConfig::default()
    }
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= TOL, "{what}: slm {a} vs reference {b} (diff {})", (a - b).abs());
}

fn strip_version(sig: &str) -> &str {
    sig.rsplit_once("|version:").map_or(sig, |s| s.0)
}

fn ints(v: &Value) -> Vec<u64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as u64).collect()
}

#[test]
fn bleu_matches_sacrebleu() {
    let g = golden();
    for case in g["bleu"].as_array().unwrap() {
        let what = format!("{} vs {} {}", case["hyp"], case["refs"], case["options"]);
        let c = corpus(case);
        let cfg = bleu_config(&case["options"]);
        let s = bleu::corpus_bleu(&cfg, &c);
        // With add-k, sacrebleu reports counts and totals of orders 2..4 after adding k.
        let k = match cfg.smooth {
            Smooth::AddK(k) if s.counts.iter().any(|&c| c > 0) => k as u64,
            _ => 0,
        };
        let adjusted =
            |v: [u64; 4]| -> Vec<u64> { v.iter().enumerate().map(|(i, &x)| if i > 0 { x + k } else { x }).collect() };
        assert_eq!(adjusted(s.counts), ints(&case["counts"]), "counts, {what}");
        assert_eq!(adjusted(s.totals), ints(&case["totals"]), "totals, {what}");
        assert_eq!(s.sys_len, case["sys_len"].as_u64().unwrap(), "sys_len, {what}");
        assert_eq!(s.ref_len, case["ref_len"].as_u64().unwrap(), "ref_len, {what}");
        close(s.score, case["score"].as_f64().unwrap(), &format!("score, {what}"));
        close(s.bp, case["bp"].as_f64().unwrap(), &format!("bp, {what}"));
        for (p, q) in s.precisions.iter().zip(case["precisions"].as_array().unwrap()) {
            close(*p, q.as_f64().unwrap(), &format!("precision, {what}"));
        }
        assert_eq!(
            strip_version(&bleu::signature(&cfg, c.refs.len())),
            strip_version(case["signature"].as_str().unwrap()),
            "{what}"
        );
    }
}

#[test]
fn chrf_matches_sacrebleu() {
    let g = golden();
    for case in g["chrf"].as_array().unwrap() {
        let what = format!("{} vs {} {}", case["hyp"], case["refs"], case["options"]);
        let c = corpus(case);
        let cfg = chrf_config(&case["options"]);
        close(chrf::corpus_chrf(&cfg, &c), case["score"].as_f64().unwrap(), &what);
        assert_eq!(
            strip_version(&chrf::signature(&cfg, c.refs.len())),
            strip_version(case["signature"].as_str().unwrap())
        );
    }
}

#[test]
fn sentence_scores_match_sacrebleu() {
    let g = golden();
    for case in g["sentence"].as_array().unwrap() {
        let c = corpus(case);
        let scores: Vec<f64> = if case["metric"] == "bleu" {
            bleu::sentence_bleu(&bleu_config(&case["options"]), &c).iter().map(|s| s.score).collect()
        } else {
            chrf::sentence_chrf(&chrf_config(&case["options"]), &c)
        };
        let want = case["scores"].as_array().unwrap();
        assert_eq!(scores.len(), want.len());
        for (i, (a, b)) in scores.iter().zip(want).enumerate() {
            close(*a, b.as_f64().unwrap(), &format!("{} segment {i} {}", case["metric"], case["hyp"]));
        }
    }
}

#[test]
fn rouge_matches_rouge_score_per_segment() {
    let g = golden();
    let types = ["rouge1", "rouge2", "rougeL", "rougeLsum"];
    for case in g["rouge"].as_array().unwrap() {
        let cfg = RougeConfig {
            types: types.iter().map(|t| RougeType::parse(t).unwrap()).collect(),
            stemmer: case["stemmer"].as_bool().unwrap(),
            tokenizer: RougeTokenizer::Default,
        };
        let mut c = corpus(case);
        let unescape = |s: &mut String| *s = s.replace("\\n", "\n");
        c.hyps.iter_mut().for_each(unescape);
        c.refs.iter_mut().flatten().for_each(unescape);
        let scores = rouge::segment_scores(&cfg, &c);
        for (i, (seg, want)) in scores.iter().zip(case["segments"].as_array().unwrap()).enumerate() {
            for (k, t) in types.iter().enumerate() {
                let w = want[t].as_array().unwrap();
                let what = format!("{t} segment {i} of {} stemmer={}", case["hyp"], case["stemmer"]);
                close(seg[k].precision, w[0].as_f64().unwrap(), &what);
                close(seg[k].recall, w[1].as_f64().unwrap(), &what);
                close(seg[k].fmeasure, w[2].as_f64().unwrap(), &what);
            }
        }
        let mean = rouge::mean(&scores, types.len());
        for (k, t) in types.iter().enumerate() {
            close(mean[k].fmeasure, case["mean"][t][2].as_f64().unwrap(), &format!("mean {t}"));
        }
    }
}

#[test]
fn porter_stems_match_nltk() {
    let lines = read_lines(&fixture("stems.tsv")).unwrap();
    assert!(lines.len() > 5000);
    for line in lines {
        let (word, want) = line.split_once('\t').unwrap();
        assert_eq!(rouge::stem(word), want, "{word}");
    }
}
