//! Token attributions: how much each input token contributes to a score (a classifier's label logit, or
//! the log-probability of each token of a target text), by occlusion, input × gradient, integrated
//! gradients, LIME or kernel SHAP (exact Shapley values for short inputs). Perturbations replace a token
//! by the baseline token (the pad token), never remove it, so positions stay where they were.

mod gradient;
pub mod linalg;
pub mod perturb;

use serde_json::{Value, json};

use crate::error::Result;
use crate::subject::{ModelKind, Subject, Target};

/// An attribution method and its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// Leave-one-out, or sliding windows of `window` tokens.
    Occlusion {
        /// Tokens hidden together.
        window: usize,
    },
    /// The embedding times the gradient of the score.
    InputXGradient,
    /// Integrated gradients from the baseline token's embedding, `steps` Gauss–Legendre points.
    IntegratedGradients {
        /// Quadrature points.
        steps: usize,
    },
    /// LIME: `samples` random masks, exponential kernel of `kernel_width` on the cosine distance.
    Lime {
        /// Masks evaluated.
        samples: usize,
        /// Kernel width.
        kernel_width: f64,
        /// Seed of the masks.
        seed: u64,
    },
    /// Kernel SHAP with `samples` coalitions; exact Shapley values for at most 12 tokens.
    KernelShap {
        /// Coalitions evaluated (when not exact).
        samples: usize,
        /// Seed of the coalitions.
        seed: u64,
    },
}

impl Method {
    /// As the command line and the JSON spell it.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Occlusion { .. } => "occlusion",
            Method::InputXGradient => "input-x-gradient",
            Method::IntegratedGradients { .. } => "integrated-gradients",
            Method::Lime { .. } => "lime",
            Method::KernelShap { .. } => "kernel-shap",
        }
    }
}

/// What a method found for one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    /// The method.
    pub method: &'static str,
    /// Classifier or causal LM.
    pub model_kind: ModelKind,
    /// The input's tokens.
    pub input_tokens: Vec<String>,
    /// The token that stands for an absent input token (the pad token, else the EOS).
    pub baseline_token: String,
    /// Each target's text and score on the real input.
    pub targets: Vec<(String, f32)>,
    /// `[target][input token]`.
    pub attributions: Vec<Vec<f32>>,
    /// Each target's score when every input token is the baseline token.
    pub baseline_score: Vec<f32>,
    /// Integrated gradients: per target, the attributions' sum minus (score − baseline score).
    pub convergence_delta: Option<Vec<f32>>,
    /// Kernel SHAP: whether the values are exact Shapley values (all coalitions enumerated).
    pub exact: Option<bool>,
    /// How faithful the attributions are to the model (ERASER's measures).
    pub faithfulness: Faithfulness,
}

/// ERASER's faithfulness measures (DeYoung et al. 2020) in the score's units (a label's logit, or a target
/// token's log-probability), averaged over targets and over rationales of the top 10%, 20% and 50% of the
/// input tokens by attribution (AOPC): `comprehensiveness` = score − score without the rationale (replaced
/// by the baseline token; higher: the tokens ranked first matter), `sufficiency` = score − score of the
/// rationale alone (lower: they suffice).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faithfulness {
    /// Mean drop when the top tokens are removed.
    pub comprehensiveness: f32,
    /// Mean drop when only the top tokens are kept.
    pub sufficiency: f32,
}

/// Fractions of the input whose top tokens form a rationale.
const RATIONALES: [f64; 3] = [0.1, 0.2, 0.5];

/// Faithfulness of `attributions` (`[target][token]`), with `eval` scoring keep-masks and `full` the
/// unperturbed scores.
fn faithfulness(attributions: &[Vec<f32>], full: &[f32], eval: &mut perturb::Eval<'_>) -> Faithfulness {
    let (mut comprehensive, mut sufficient, mut count) = (0f64, 0f64, 0usize);
    for (j, row) in attributions.iter().enumerate() {
        let n = row.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        let mut masks = Vec::new();
        for fraction in RATIONALES {
            let k = ((fraction * n as f64).ceil() as usize).clamp(1, n);
            let mut rationale = vec![false; n];
            order[..k].iter().for_each(|&i| rationale[i] = true);
            masks.push(rationale.iter().map(|r| !r).collect::<Vec<bool>>());
            masks.push(rationale);
        }
        let scores = eval(&masks);
        for pair in scores.chunks_exact(2) {
            comprehensive += f64::from(full[j] - pair[0][j]);
            sufficient += f64::from(full[j] - pair[1][j]);
            count += 1;
        }
    }
    let mean = |x: f64| (x / count.max(1) as f64) as f32;
    Faithfulness { comprehensiveness: mean(comprehensive), sufficiency: mean(sufficient) }
}

impl Attribution {
    /// The JSON object `slm explain tokens --json` prints.
    pub fn to_json(&self) -> Value {
        let targets: Vec<Value> = self.targets.iter().map(|(t, s)| json!({"text": t, "score": s})).collect();
        let mut v = json!({"method": self.method, "model_kind": self.model_kind.name(),
            "input_tokens": self.input_tokens, "baseline_token": self.baseline_token, "targets": targets, "attributions": self.attributions,
            "baseline_score": self.baseline_score});
        if let Some(delta) = &self.convergence_delta {
            v["convergence_delta"] = json!(delta);
        }
        if let Some(exact) = self.exact {
            v["exact"] = json!(exact);
        }
        v["faithfulness"] = json!({"comprehensiveness": self.faithfulness.comprehensiveness,
            "sufficiency": self.faithfulness.sufficiency});
        v
    }
}

/// Writes `attribution` into the directory `dir`: `attribution.json`, `attribution.html` (titled
/// `title`) and, for a causal LM, `attribution.png` (targets × input tokens).
///
/// # Errors
/// A file cannot be written.
pub fn write(attribution: &Attribution, title: &str, dir: &std::path::Path) -> Result<()> {
    let json = attribution.to_json();
    let put = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| crate::ExplainError::Output { path, problem: e.to_string() })
    };
    put("attribution.json", serde_json::to_string(&json).expect("JSON serializes") + "\n")?;
    put("attribution.html", crate::html::tokens_page(title, &json))?;
    if attribution.model_kind == ModelKind::CausalLm {
        let values: Vec<f32> = attribution.attributions.concat();
        let (rows, cols) = (attribution.targets.len(), attribution.input_tokens.len());
        let panel = crate::heatmap::Panel { title: attribution.method.to_owned(), values: &values, rows, cols };
        let targets: Vec<String> = attribution.targets.iter().map(|(t, _)| t.clone()).collect();
        crate::heatmap::draw(title, &[panel], &targets, &attribution.input_tokens, &dir.join("attribution.png"))?;
    }
    Ok(())
}

/// Attributes the score(s) of `target` on `text` to its tokens with `method`.
///
/// # Errors
/// The text or target cannot be explained (see [`Subject::encode`] and [`Subject::resolve`]).
pub fn explain(subject: &Subject, text: &str, target: &Target, method: &Method) -> Result<Attribution> {
    let ids = subject.encode(text)?;
    let (targets, texts) = subject.resolve(&ids, target)?;
    let n = ids.len();
    let baseline_row = vec![subject.baseline; n];
    let both = subject.scores(&[ids.clone(), baseline_row], &targets);
    let (full, none) = (both[0].clone(), both[1].clone());
    let mut eval = |masks: &[Vec<bool>]| -> Vec<Vec<f32>> {
        let rows: Vec<Vec<u32>> = masks
            .iter()
            .map(|m| ids.iter().zip(m).map(|(&t, &keep)| if keep { t } else { subject.baseline }).collect())
            .collect();
        subject.scores(&rows, &targets)
    };
    let (mut convergence_delta, mut exact) = (None, None);
    let attributions = match method {
        Method::Occlusion { window } => perturb::occlusion(n, *window, &full, &mut eval),
        Method::KernelShap { samples, seed } => {
            exact = Some(n <= perturb::MAX_EXACT);
            if n <= perturb::MAX_EXACT {
                perturb::shapley_exact(n, targets.len(), &mut eval)
            } else {
                perturb::kernel_shap(n, *samples, *seed, &full, &none, &mut eval)
            }
        }
        Method::Lime { samples, kernel_width, seed } => {
            perturb::lime(n, *samples, *seed, *kernel_width, targets.len(), &mut eval)
        }
        Method::InputXGradient => gradient::attribute(subject, &ids, &targets, None, &[1.0], &[1.0])?,
        Method::IntegratedGradients { steps } => {
            let (alphas, weights) = linalg::gauss_legendre(*steps);
            let a = gradient::attribute(subject, &ids, &targets, Some(subject.baseline), &alphas, &weights)?;
            convergence_delta = Some(
                a.iter().zip(full.iter().zip(&none)).map(|(row, (f, b))| row.iter().sum::<f32>() - (f - b)).collect(),
            );
            a
        }
    };
    let faithfulness = faithfulness(&attributions, &full, &mut eval);
    let input_tokens = ids.iter().map(|&t| subject.token_text(t)).collect();
    let targets = texts.into_iter().zip(full).collect();
    Ok(Attribution {
        method: method.name(),
        model_kind: subject.kind(),
        input_tokens,
        baseline_token: subject.tokenizer_token(subject.baseline),
        targets,
        attributions,
        baseline_score: none,
        convergence_delta,
        exact,
        faithfulness,
    })
}
