//! Fused CPU kernels for slm's Transformer, forward and backward, on Burn's flex backend: attention,
//! LayerNorm/RMSNorm, GPT-2's GELU, the linear maps, and the AdamW update — the parts of a training step
//! that Burn would otherwise run as many small tensor operations.
//!
//! Each public function takes and returns ordinary `Tensor`s and checks their shapes (a mismatch panics
//! with a message naming the operands; nothing is read or written out of bounds). On flex with f32 values
//! it runs one kernel, registered as one custom operation in Burn's autodiff graph with its own backward;
//! on any other backend or dtype it runs the reference composition of Burn operations it replaces (the
//! `*_reference` functions), so results do not depend on where a model runs. `SLM_FUSED=0` turns the
//! kernels off, for measuring what they bring; [`runs`] counts, per thread, how often each kernel ran.
//!
//! Every `unsafe` block of slm lives here, each with the reason it is sound.

#![warn(missing_docs)]

mod adamw;
mod attention;
mod dispatch;
mod gelu;
mod linear;
mod norm;
mod vmath;

pub use adamw::{AdamWUpdate, adamw, adamw_reference};
pub use attention::{attention, attention_reference};
pub use gelu::{gelu_tanh, gelu_tanh_reference};
pub use linear::{linear, linear_reference};
pub use norm::{norm, norm_reference};

use std::cell::Cell;

/// One of the fused kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// [`attention`] (prefill and training; the single-token decode path is Burn's).
    Attention,
    /// [`norm`].
    Norm,
    /// [`gelu_tanh`].
    Gelu,
    /// [`linear`].
    Linear,
    /// [`adamw`].
    AdamW,
}

const KERNELS: usize = 5;

thread_local! {
    static RUNS: [Cell<u64>; KERNELS] = const { [const { Cell::new(0) }; KERNELS] };
}

/// How many times `kernel` ran its fused code on this thread (the reference path does not count).
pub fn runs(kernel: Kernel) -> u64 {
    RUNS.with(|r| r[kernel as usize].get())
}

/// Counts one fused run of `kernel` on this thread.
fn ran(kernel: Kernel) {
    RUNS.with(|r| r[kernel as usize].set(r[kernel as usize].get() + 1));
}
