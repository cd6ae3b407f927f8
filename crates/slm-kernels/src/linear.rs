//! `y = x·W + b` as one gemm whose output starts as the broadcast bias, and its backward as two gemms
//! (dx = dy·Wᵀ, dW = xᵀ·dy, each reading the transposed operand in place) plus one pass of column sums
//! for db. Outputs are allocated once, as f32 (flex's own matmul zero-fills a byte buffer and then copies
//! it into an aligned one).

use burn::prelude::*;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops};
use burn_flex::{Flex, FlexTensor};

use crate::dispatch::{Ad, AdTensor, Operand, Prim, contiguous, flex, gemm, prim, record, values};
use crate::vmath::multiversion;

/// `x·weight + bias` over the last dimension of `x`; `weight` is `[in, out]`, `bias` `[out]`.
///
/// # Panics
/// If the last dimension of `x` is not `in`, or the bias is not `out` long.
pub fn linear<const D: usize>(x: Tensor<D>, weight: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<D> {
    let [d_in, d_out] = weight.dims();
    assert!(
        x.dims()[D - 1] == d_in,
        "linear: input {:?} does not end in the weight's input width {d_in} (weight {:?})",
        x.dims(),
        [d_in, d_out]
    );
    if let Some(b) = &bias {
        assert!(b.dims()[0] == d_out, "linear: bias of {} values for {d_out} outputs", b.dims()[0]);
    }
    let fused = match (prim(&x), prim(&weight), bias.as_ref().map(prim)) {
        (Some(Prim::Tracked(x)), Some(Prim::Tracked(w)), None) => Tensor::from_primitive::<Ad>(tracked([x, w])),
        (Some(Prim::Tracked(x)), Some(Prim::Tracked(w)), Some(Some(Prim::Tracked(b)))) => {
            Tensor::from_primitive::<Ad>(tracked([x, w, b]))
        }
        (Some(Prim::Plain(x)), Some(Prim::Plain(w)), None) => {
            Tensor::from_primitive::<Flex>(forward(&contiguous(&x), &w, None))
        }
        (Some(Prim::Plain(x)), Some(Prim::Plain(w)), Some(Some(Prim::Plain(b)))) => {
            Tensor::from_primitive::<Flex>(forward(&contiguous(&x), &w, Some(&b)))
        }
        _ => return linear_reference(x, weight, bias),
    };
    crate::ran(crate::Kernel::Linear);
    fused
}

/// The same map in Burn operations (any backend).
pub fn linear_reference<const D: usize>(x: Tensor<D>, weight: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<D> {
    burn::tensor::module::linear(x, weight, bias)
}

multiversion! {
    /// Adds the rows of `g` (each `sums.len()` wide) into `sums`.
    fn column_sums(g: &[f32], sums: &mut [f32]) {
        for row in g.chunks_exact(sums.len()) {
            for (s, &v) in sums.iter_mut().zip(row) {
                *s += v;
            }
        }
    }
}

/// A 2-D tensor as a gemm operand, read in place through its strides (a transposed view costs nothing).
fn operand(t: &FlexTensor) -> Operand {
    let layout = t.layout();
    let s = layout.strides();
    (t.storage::<f32>()[layout.start_offset()..].as_ptr(), s[0], s[1])
}

/// Shape of `x` with its last dimension replaced by `n`.
fn with_last(shape: &burn::tensor::Shape, n: usize) -> Vec<usize> {
    let mut dims: Vec<usize> = shape.iter().copied().collect();
    *dims.last_mut().expect("a tensor of rank >= 1") = n;
    dims
}

/// The map of `x`, which `contiguous` returned.
fn forward(x: &FlexTensor, w: &FlexTensor, b: Option<&FlexTensor>) -> FlexTensor {
    let shape = x.layout().shape().clone();
    let (k, n) = (w.layout().shape()[0], w.layout().shape()[1]);
    let m = shape.num_elements() / k;
    let mut out = match b {
        Some(b) => values(&contiguous(b)).repeat(m),
        None => vec![0.0f32; m * n],
    };
    let xv = values(x);
    // SAFETY: x is m×k row-major, w a k×n operand; out holds m·n values.
    unsafe {
        gemm((m, n, k), out.as_mut_ptr(), n as isize, b.is_some(), (xv.as_ptr(), k as isize, 1), operand(w), 1.0)
    };
    flex(out, with_last(&shape, n))
}

#[derive(Debug, Clone)]
struct State {
    x: FlexTensor,
    w: FlexTensor,
}

#[derive(Debug)]
struct LinearBackward;

impl<const N: usize> Backward<Flex, N> for LinearBackward {
    type State = State;

    fn backward(self, ops: Ops<State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let State { x, w } = &ops.state;
        let shape = x.layout().shape().clone();
        let (k, n) = (w.layout().shape()[0], w.layout().shape()[1]);
        let m = shape.num_elements() / k;
        let [px, pw, pb] = [0, 1, 2].map(|i| ops.parents.get(i).cloned().flatten());
        let grad = contiguous(&grad);
        let g = values(&grad);
        if let Some(node) = px {
            let mut dx = vec![0.0f32; m * k];
            let (wp, w_rs, w_cs) = operand(w);
            // SAFETY: g is m×n; w read as its transpose (n×k); dx holds m·k values.
            unsafe {
                gemm((m, k, n), dx.as_mut_ptr(), k as isize, false, (g.as_ptr(), n as isize, 1), (wp, w_cs, w_rs), 1.0)
            };
            grads.register::<Flex>(node.id, flex(dx, shape.clone()));
        }
        if let Some(node) = pw {
            let mut dw = vec![0.0f32; k * n];
            let xv = values(x);
            // SAFETY: x read as its transpose (k×m); g is m×n; dw holds k·n values.
            unsafe {
                gemm(
                    (k, n, m),
                    dw.as_mut_ptr(),
                    n as isize,
                    false,
                    (xv.as_ptr(), 1, k as isize),
                    (g.as_ptr(), n as isize, 1),
                    1.0,
                )
            };
            grads.register::<Flex>(node.id, flex(dw, [k, n]));
        }
        if let Some(node) = pb {
            let mut db = vec![0.0f32; n];
            column_sums(g, &mut db);
            grads.register::<Flex>(node.id, flex(db, [n]));
        }
    }
}

fn tracked<const N: usize>(inputs: [AdTensor; N]) -> AdTensor
where
    LinearBackward: Backward<Flex, N, State = State>,
{
    record(LinearBackward, inputs, |prims, keep| {
        // x is made contiguous once, here: backward reads the same copy.
        let (x, w) = (contiguous(&prims[0]), &prims[1]);
        (forward(&x, w, prims.get(2)), keep.then(|| State { x, w: w.clone() }))
    })
}
