//! BLEU, chrF and ROUGE tokenizers and scores on arbitrary Unicode: hypothesis and reference split at the
//! first NUL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slm_eval::bleu::{BleuConfig, Smooth, Tokenizer, corpus_bleu, sentence_bleu};
use slm_eval::chrf::{ChrfConfig, corpus_chrf};
use slm_eval::rouge::{RougeConfig, RougeTokenizer, RougeType, Tokenize, score};
use slm_eval::segments::Corpus;

fuzz_target!(|data: &str| {
    let (hyp, reference) = data.split_once('\0').unwrap_or((data, data));
    let corpus = Corpus { hyps: vec![hyp.to_owned()], refs: vec![vec![reference.to_owned()]] };
    for tokenizer in [Tokenizer::T13a, Tokenizer::Intl, Tokenizer::Zh, Tokenizer::Char, Tokenizer::None] {
        let cfg = BleuConfig { tokenizer, lowercase: true, smooth: Smooth::Exp, effective_order: false };
        let _ = corpus_bleu(&cfg, &corpus);
        let _ = sentence_bleu(&cfg, &corpus);
    }
    let _ = corpus_chrf(&ChrfConfig { word_order: 2, lowercase: true, ..ChrfConfig::default() }, &corpus);
    for tokenizer in [RougeTokenizer::Default, RougeTokenizer::Char, RougeTokenizer::Zh] {
        let cfg = RougeConfig { types: vec![RougeType::N(2), RougeType::L, RougeType::Lsum], stemmer: true, tokenizer };
        let mut tok = Tokenize::new(&cfg);
        let _ = score(&mut tok, reference, hyp);
    }
});
