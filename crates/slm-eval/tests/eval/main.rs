//! slm-eval's integration tests, one binary: the metrics against sacrebleu, rouge-score and NLTK, and code
//! complexity against radon, on committed fixtures (`testdata/`).

mod golden;
mod radon;
