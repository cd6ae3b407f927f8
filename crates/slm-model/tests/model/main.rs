//! slm-model's integration tests, one binary: parity with transformers, PEFT and gguf-py on committed
//! fixtures (`testdata/`), generation, batching, heads, and the real SmolLM2.

mod attention;
mod batch;
mod generate;
mod gguf;
mod heads;
mod hf_parity;
mod lora;
mod smollm2_parity;
