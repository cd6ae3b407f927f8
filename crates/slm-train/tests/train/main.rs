//! slm-train's integration tests, one binary: losses equal PyTorch's and PEFT's step by step, and equal
//! flex's on the other backends compiled in; pseudo-label selection equals scikit-learn's.

mod backends;
mod pseudo;
mod torch_parity;
