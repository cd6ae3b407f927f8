//! The slm trainer. A [`recipe::Recipe`] (TOML) describes a run; [`trainer::train`] prepares the
//! tokenizer, data and model, then runs AdamW with a warmup schedule, gradient accumulation and global-norm
//! clipping, evaluates, checkpoints (exact resume) and writes `metrics.csv` and HF model directories.

#![warn(missing_docs)]

pub mod checkpoint;
pub mod data;
pub mod distill;
mod error;
pub mod metrics;
pub mod mlm;
pub mod observer;
pub mod optim;
pub mod plot;
pub mod pseudo;
pub mod recipe;
pub mod schedule;
pub mod self_training;
pub mod trainer;

pub use error::{Result, TrainError};
pub use observer::Observer;
pub use recipe::Recipe;
pub use trainer::{RunOptions, Summary, train};
