//! Explaining what a model does, offline: attention weights per layer and head with attention rollout
//! ([`attention`]), drawn as PNG heatmaps ([`heatmap`]) and as one self-contained HTML page ([`html`]);
//! token attributions of a classifier's label or a language model's continuation ([`tokens`]) by
//! occlusion, input × gradient, integrated gradients, LIME and (kernel) SHAP.

pub mod attention;
mod error;
pub mod heatmap;
pub mod html;
pub mod subject;
pub mod tokens;

pub use error::{ExplainError, Result};
