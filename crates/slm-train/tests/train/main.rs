//! slm-train's integration tests, one binary: losses equal PyTorch's and PEFT's step by step, and equal
//! flex's on the other backends compiled in.

mod backends;
mod torch_parity;
