//! BLEU, chrF and ROUGE.

use serde_json::json;
use slm_eval::bleu::{self, BleuConfig, Smooth, Tokenizer};
use slm_eval::chrf::{self, ChrfConfig};
use slm_eval::rouge::{self, RougeConfig, RougeTokenizer, RougeType};
use slm_eval::segments::Corpus;

use super::{Args, Report, need};
use crate::CliError;

/// `--tokenize`: BLEU's tokenizers and ROUGE's, one set of names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tokenize {
    /// BLEU: mteval-v13a (BLEU's default).
    #[value(name = "13a")]
    T13a,
    /// BLEU: mteval-v14 international.
    Intl,
    /// BLEU and ROUGE: Chinese characters as tokens.
    Zh,
    /// BLEU and ROUGE: every character a token.
    Char,
    /// BLEU: whitespace only.
    None,
    /// ROUGE: rouge-score's default tokenizer (ROUGE's default).
    Default,
}

impl Tokenize {
    fn name(self) -> &'static str {
        match self {
            Tokenize::T13a => "13a",
            Tokenize::Intl => "intl",
            Tokenize::Zh => "zh",
            Tokenize::Char => "char",
            Tokenize::None => "none",
            Tokenize::Default => "default",
        }
    }
}

/// `--smooth`: BLEU's smoothing methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SmoothArg {
    /// mteval-v13a's exponential smoothing (sacrebleu's default).
    Exp,
    /// A zero count becomes --smooth-value (default 0.1).
    Floor,
    /// Add --smooth-value (default 1) to counts above order 1.
    AddK,
    /// No smoothing.
    None,
}

fn corpus(args: &Args, metric: &str) -> Result<Corpus, CliError> {
    let hyp = need(&args.hyp, "--hyp FILE", metric)?;
    Ok(Corpus::read(hyp, &args.refs)?)
}

pub fn bleu(args: &Args) -> Result<Report, CliError> {
    let name = args.tokenize.map_or("13a", Tokenize::name);
    let tokenizer = Tokenizer::parse(name).ok_or_else(|| {
        CliError::Usage(format!("--tokenize {name} does not apply to BLEU; it takes 13a, intl, zh, char or none"))
    })?;
    let smooth = match args.smooth {
        SmoothArg::Exp => Smooth::Exp,
        SmoothArg::Floor => Smooth::Floor(args.smooth_value.unwrap_or(0.1)),
        SmoothArg::AddK => Smooth::AddK(args.smooth_value.unwrap_or(1.0)),
        SmoothArg::None => Smooth::None,
    };
    if args.smooth_value.is_some() && !matches!(args.smooth, SmoothArg::Floor | SmoothArg::AddK) {
        return Err(CliError::Usage("--smooth-value applies to --smooth floor or add-k only".into()));
    }
    let cfg = BleuConfig { tokenizer, lowercase: args.lowercase, smooth, effective_order: false };
    let c = corpus(args, "bleu")?;
    if bleu::tokenized_period_count(&c) >= 100 {
        eprintln!("warning: 100 or more hypotheses end in a tokenized period (\" .\"); BLEU expects detokenized text");
    }
    if args.sentence {
        let scores: Vec<f64> = bleu::sentence_bleu(&cfg, &c).iter().map(|s| s.score).collect();
        let sig = bleu::signature(&BleuConfig { effective_order: true, ..cfg }, c.refs.len());
        let human = scores.iter().map(|s| format!("{s:.4}\n")).collect();
        return Ok(Report {
            json: json!({"metric": "bleu", "sentence": true, "scores": scores, "signature": sig}),
            human,
        });
    }
    let s = bleu::corpus_bleu(&cfg, &c);
    let sig = bleu::signature(&cfg, c.refs.len());
    let ratio = if s.ref_len > 0 { s.sys_len as f64 / s.ref_len as f64 } else { 0.0 };
    let human = format!(
        "BLEU = {:.2} {:.1}/{:.1}/{:.1}/{:.1} (BP = {:.3} ratio = {:.3} hyp_len = {} ref_len = {})\n{sig}\n",
        s.score, s.precisions[0], s.precisions[1], s.precisions[2], s.precisions[3], s.bp, ratio, s.sys_len, s.ref_len
    );
    let json = json!({
        "metric": "bleu", "score": s.score, "counts": s.counts, "totals": s.totals, "precisions": s.precisions,
        "bp": s.bp, "sys_len": s.sys_len, "ref_len": s.ref_len, "signature": sig,
    });
    Ok(Report { json, human })
}

pub fn chrf(args: &Args) -> Result<Report, CliError> {
    if args.word_order > 2 {
        return Err(CliError::Usage(format!("--word-order must be 0 (chrF) or 2 (chrF++), got {}", args.word_order)));
    }
    let cfg = ChrfConfig { word_order: args.word_order, lowercase: args.lowercase, ..ChrfConfig::default() };
    let c = corpus(args, "chrf")?;
    let sig = chrf::signature(&cfg, c.refs.len());
    if args.sentence {
        let scores = chrf::sentence_chrf(&cfg, &c);
        let human = scores.iter().map(|s| format!("{s:.4}\n")).collect();
        return Ok(Report {
            json: json!({"metric": "chrf", "sentence": true, "scores": scores, "signature": sig}),
            human,
        });
    }
    let score = chrf::corpus_chrf(&cfg, &c);
    let human = format!("{} = {score:.2}\n{sig}\n", chrf::name(&cfg));
    Ok(Report { json: json!({"metric": "chrf", "name": chrf::name(&cfg), "score": score, "signature": sig}), human })
}

pub fn rouge(args: &Args) -> Result<Report, CliError> {
    let types = args
        .types
        .split(',')
        .map(|t| {
            RougeType::parse(t.trim()).ok_or_else(|| {
                CliError::Usage(format!("unknown ROUGE type `{t}`; expected rouge1..rouge9, rougeL or rougeLsum"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tokenizer = match args.tokenize {
        None | Some(Tokenize::Default) => RougeTokenizer::Default,
        Some(Tokenize::Char) => RougeTokenizer::Char,
        Some(Tokenize::Zh) => RougeTokenizer::Zh,
        Some(other) => {
            return Err(CliError::Usage(format!(
                "--tokenize {} does not apply to ROUGE; it takes default, char or zh",
                other.name()
            )));
        }
    };
    let cfg = RougeConfig { types, stemmer: args.stemmer, tokenizer };
    let mut c = corpus(args, "rouge")?;
    let unescape = |s: &mut String| {
        if s.contains("\\n") {
            *s = s.replace("\\n", "\n");
        }
    };
    c.hyps.iter_mut().for_each(unescape);
    c.refs.iter_mut().flatten().for_each(unescape);
    let scores = rouge::segment_scores(&cfg, &c);
    let mean = rouge::mean(&scores, cfg.types.len());
    let mut json = json!({"metric": "rouge", "segments": c.hyps.len(), "stemmer": cfg.stemmer,
        "tokenizer": args.tokenize.map_or("default", Tokenize::name)});
    let mut human = format!("{:<10} {:>9} {:>9} {:>9}\n", "type", "precision", "recall", "fmeasure");
    for (t, m) in cfg.types.iter().zip(&mean) {
        json[t.name()] = json!({"precision": m.precision, "recall": m.recall, "fmeasure": m.fmeasure});
        human += &format!("{:<10} {:>9.4} {:>9.4} {:>9.4}\n", t.name(), m.precision, m.recall, m.fmeasure);
    }
    Ok(Report { json, human })
}
