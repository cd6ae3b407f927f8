//! GPT-2's GELU (tanh approximation), gelu(x) = x·σ(2u) with u = √(2/π)·(x + 0.044715·x³), as one
//! elementwise kernel forward and one backward.

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops};
use burn_flex::{Flex, FlexTensor};

use crate::dispatch::{Ad, AdTensor, Prim, SharedMut, contiguous, flex, par_ranges, prim, record, register, values};
use crate::vmath::{self, multiversion};

const A: f32 = 0.044_715;
/// 2·√(2/π).
const TWO_C: f32 = 1.595_769;
/// Elements per parallel task.
const CHUNK: usize = 1 << 15;

/// GELU (tanh approximation) of every element.
pub fn gelu_tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let fused = match prim(&x) {
        Some(Prim::Tracked(p)) => Tensor::from_primitive::<Ad>(tracked(p)),
        Some(Prim::Plain(p)) => Tensor::from_primitive::<Flex>(forward(&p)),
        None => return gelu_tanh_reference(x),
    };
    crate::ran(crate::Kernel::Gelu);
    fused
}

/// The same function in Burn operations (any backend): multiplications and one sigmoid, since
/// (1 + tanh u) / 2 = σ(2u).
pub fn gelu_tanh_reference<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let cube = x.clone().mul(x.clone()).mul(x.clone());
    let u2 = cube.mul_scalar(A).add(x.clone()).mul_scalar(TWO_C);
    x.mul(sigmoid(u2))
}

multiversion! {
    fn forward_kernel(x: &[f32], y: &mut [f32]) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = x * vmath::sigmoid(TWO_C * (x + A * x * x * x));
        }
    }
}

multiversion! {
    /// d gelu / dx = s + x·s·(1 − s)·2√(2/π)·(1 + 3a·x²), s = σ(2u).
    fn backward_kernel(x: &[f32], grad: &[f32], dx: &mut [f32]) {
        for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(grad) {
            let s = vmath::sigmoid(TWO_C * (x + A * x * x * x));
            *dx = g * (s + x * s * (1.0 - s) * TWO_C * (1.0 + 3.0 * A * x * x));
        }
    }
}

/// Applies `kernel(inputs…, out)` chunk by chunk in parallel over equally long inputs.
fn elementwise(inputs: &[&[f32]], kernel: impl Fn(&[&[f32]], &mut [f32]) + Sync) -> Vec<f32> {
    let n = inputs[0].len();
    let mut out = vec![0.0f32; n];
    let ptr = SharedMut(out.as_mut_ptr());
    par_ranges(n, CHUNK, |a, b| {
        let parts: Vec<&[f32]> = inputs.iter().map(|v| &v[a..b]).collect();
        // SAFETY: chunks [a, b) are disjoint and inside `out`.
        let dst = unsafe { std::slice::from_raw_parts_mut(ptr.get().add(a), b - a) };
        kernel(&parts, dst);
    });
    out
}

fn forward(x: &FlexTensor) -> FlexTensor {
    let x = contiguous(x);
    let y = elementwise(&[values(&x)], |i, o| forward_kernel(i[0], o));
    flex(y, x.layout().shape().clone())
}

#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<FlexTensor, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        if ops.parents[0].is_some() {
            let (x, g) = (contiguous(&ops.state), contiguous(&grad));
            let dx = elementwise(&[values(&x), values(&g)], |i, o| backward_kernel(i[0], i[1], o));
            let dx = flex(dx, ops.state.layout().shape().clone());
            register(grads, ops, [dx]);
        }
    }
}

fn tracked(x: AdTensor) -> AdTensor {
    record(GeluBackward, [x], |[x], keep| (forward(x), keep.then(|| x.clone())))
}
