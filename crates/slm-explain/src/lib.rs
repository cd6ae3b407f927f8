//! Explaining what a model does, offline: attention weights per layer and head with attention rollout
//! ([`attention`]), drawn as PNG heatmaps ([`heatmap`]) and as one self-contained HTML page ([`html`]).

pub mod attention;
mod error;
pub mod heatmap;
pub mod html;

pub use error::{ExplainError, Result};
