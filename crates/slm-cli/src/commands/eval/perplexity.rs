//! Perplexity of a model directory on a text file: slm_eval's sliding-window computation over the
//! model's next-token log-probabilities.

use serde_json::json;
use slm_data::records::{Reader, field_str};
use slm_eval::EvalError;
use slm_eval::perplexity::{Scorer, perplexity};
use slm_model::generate::Generator;

use super::{Args, Report, need};
use crate::CliError;

/// A loaded model seen as a scorer with a window of `window` tokens.
struct ModelScorer<'a> {
    generator: &'a Generator,
    window: usize,
}

impl Scorer for ModelScorer<'_> {
    fn context_len(&self) -> usize {
        self.window
    }

    fn log_probs(&mut self, tokens: &[u32]) -> slm_eval::Result<Vec<f64>> {
        Ok(slm_model::score::next_token_log_probs(&self.generator.model, tokens))
    }
}

pub fn run(args: &Args) -> Result<Report, CliError> {
    let model_dir = need(&args.model, "--model DIR", "perplexity")?;
    let data = need(&args.data, "--data FILE", "perplexity")?;
    let generator = Generator::load(model_dir, &args.backend.device()?)?;
    let window = args.window.min(generator.model.config.max_positions);
    let stride = args.stride.unwrap_or(window / 2).max(1);
    let mut texts = Vec::new();
    for record in Reader::open(data)? {
        let record = record?;
        let text = field_str(&record.fields, &args.data_field).ok_or_else(|| {
            EvalError::malformed(data, record.line as usize, format!("the record has no field `{}`", args.data_field))
        })?;
        texts.push(generator.encode(&text)?);
    }
    let p = perplexity(&mut ModelScorer { generator: &generator, window }, &texts, stride)?;
    let mut json = json!({"metric": "perplexity", "perplexity": p.perplexity, "nll": p.nll, "tokens": p.tokens,
        "window": window, "stride": stride, "texts": texts.len()});
    let mut kl_line = String::new();
    if let Some(reference) = &args.reference_model {
        // KL(reference ‖ model) of the next-token distributions over each text's first window.
        let reference = Generator::load(reference, &args.backend.device()?)?;
        if reference.model.config.vocab_size != generator.model.config.vocab_size {
            return Err(CliError::Usage("--reference-model has another vocabulary than --model".into()));
        }
        let (mut sum, mut count) = (0.0, 0);
        for t in texts.iter().filter(|t| !t.is_empty()) {
            let (s, n) = slm_model::score::kl_divergence(&generator.model, &reference.model, &t[..t.len().min(window)]);
            sum += s;
            count += n;
        }
        let kl = sum / count.max(1) as f64;
        json["kl_from_reference"] = json!(kl);
        kl_line = format!("KL(reference ‖ model) {kl:.3e} nats per token over {count} positions\n");
    }
    let human = format!(
        "perplexity {:.4} (mean NLL {:.4} nats over {} predicted tokens of {} texts; window {window}, stride {stride})\n",
        p.perplexity,
        p.nll,
        p.tokens,
        texts.len()
    ) + &kl_line;
    Ok(Report { json, human })
}
