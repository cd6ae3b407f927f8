//! slm-data's integration tests, one binary: properties of the split planner, and tokenizer parity with
//! Hugging Face's `tokenizers` in Python.

mod split_props;
mod tokenizer_parity;
