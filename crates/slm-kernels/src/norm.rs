//! LayerNorm (with a shift) and RMSNorm (gain only) over the last dimension, one pass per row forward and
//! one backward.
//!
//! With x̂ = (x − μ)·r (LayerNorm) or x·r (RMSNorm), r = 1/√(var + ε) and g = dy ⊙ w, the backward is
//! dx = r·(g − mean(g) − x̂·mean(g ⊙ x̂)) (RMSNorm without the mean(g) term), dw = Σ dy ⊙ x̂, db = Σ dy.

use std::sync::Arc;

use burn::prelude::*;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use crate::dispatch::{Ad, AdTensor, Prim, SharedMut, contiguous, flex, par_ranges, prim, record, register, values};
use crate::vmath::{self, multiversion};

/// Rows per parallel task.
const ROWS: usize = 64;

/// Normalises the last dimension of `x`: LayerNorm with `bias`, RMSNorm without.
///
/// # Panics
/// If the gain or the bias is not as long as the last dimension of `x`.
pub fn norm(x: Tensor<3>, weight: Tensor<1>, bias: Option<Tensor<1>>, eps: f64) -> Tensor<3> {
    let d = x.dims()[2];
    assert!(weight.dims()[0] == d, "norm: gain of {} values for rows of {d}", weight.dims()[0]);
    if let Some(b) = &bias {
        assert!(b.dims()[0] == d, "norm: bias of {} values for rows of {d}", b.dims()[0]);
    }
    let parts = (prim(&x), prim(&weight), bias.as_ref().map(prim));
    let fused = match parts {
        (Some(Prim::Tracked(x)), Some(Prim::Tracked(w)), None) => Tensor::from_primitive::<Ad>(tracked([x, w], eps)),
        (Some(Prim::Tracked(x)), Some(Prim::Tracked(w)), Some(Some(Prim::Tracked(b)))) => {
            Tensor::from_primitive::<Ad>(tracked([x, w, b], eps))
        }
        (Some(Prim::Plain(x)), Some(Prim::Plain(w)), None) => {
            Tensor::from_primitive::<Flex>(forward(&x, &w, None, eps).0)
        }
        (Some(Prim::Plain(x)), Some(Prim::Plain(w)), Some(Some(Prim::Plain(b)))) => {
            Tensor::from_primitive::<Flex>(forward(&x, &w, Some(&b), eps).0)
        }
        _ => return norm_reference(x, weight, bias, eps),
    };
    crate::ran(crate::Kernel::Norm);
    fused
}

/// The same normalisation in Burn operations (any backend).
pub fn norm_reference(x: Tensor<3>, weight: Tensor<1>, bias: Option<Tensor<1>>, eps: f64) -> Tensor<3> {
    let gain = weight.unsqueeze::<3>();
    match bias {
        None => {
            let rms = x.clone().powi_scalar(2).mean_dim(2).add_scalar(eps).sqrt();
            x.div(rms).mul(gain)
        }
        Some(bias) => {
            let (var, mean) = x.clone().var_mean_bias(2);
            x.sub(mean).div(var.add_scalar(eps).sqrt()).mul(gain).add(bias.unsqueeze::<3>())
        }
    }
}

multiversion! {
    /// Normalises `rows` (each of width `w.len()`) into `out`, storing each row's mean (0 for RMSNorm) and
    /// reciprocal deviation.
    fn forward_rows(x: &[f32], w: &[f32], b: Option<&[f32]>, eps: f32, out: &mut [f32], stats: &mut [(f32, f32)]) {
        let d = w.len();
        for ((row, y), st) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)).zip(stats.iter_mut()) {
            let mean = if b.is_some() { vmath::sum(row) / d as f32 } else { 0.0 };
            let mut sq = 0.0f32;
            let mut acc = [0.0f32; 8];
            let chunks = row.chunks_exact(8);
            for &v in chunks.remainder() {
                sq += (v - mean) * (v - mean);
            }
            for c in chunks {
                for (a, &v) in acc.iter_mut().zip(c) {
                    *a += (v - mean) * (v - mean);
                }
            }
            sq += acc.iter().sum::<f32>();
            let r = 1.0 / (sq / d as f32 + eps).sqrt();
            match b {
                Some(b) => {
                    for (((y, &v), &w), &b) in y.iter_mut().zip(row).zip(w).zip(b) {
                        *y = (v - mean) * r * w + b;
                    }
                }
                None => {
                    for ((y, &v), &w) in y.iter_mut().zip(row).zip(w) {
                        *y = v * r * w;
                    }
                }
            }
            *st = (mean, r);
        }
    }
}

multiversion! {
    /// Gradients of a block of rows: dx into `dx`, and dw, db added into `dw`, `db`.
    fn backward_rows(x: &[f32], dy: &[f32], w: &[f32], stats: &[(f32, f32)], layer: bool, dx: &mut [f32], sums: (&mut [f32], &mut [f32])) {
        let (dw, db) = sums;
        let d = w.len();
        let mut g = vec![0.0f32; d];
        let mut xhat = vec![0.0f32; d];
        for (((row, dyr), dxr), &(mean, r)) in x.chunks_exact(d).zip(dy.chunks_exact(d)).zip(dx.chunks_exact_mut(d)).zip(stats) {
            for ((((xh, gi), &v), &dyv), &wv) in xhat.iter_mut().zip(g.iter_mut()).zip(row).zip(dyr).zip(w) {
                *xh = (v - mean) * r;
                *gi = dyv * wv;
            }
            let mean_g = if layer { vmath::sum(&g) / d as f32 } else { 0.0 };
            let mean_gx = vmath::dot(&g, &xhat) / d as f32;
            for (((o, &gi), &xh), (dwv, (dbv, &dyv))) in dxr.iter_mut().zip(&g).zip(&xhat).zip(dw.iter_mut().zip(db.iter_mut().zip(dyr))) {
                *o = r * (gi - mean_g - xh * mean_gx);
                *dwv += dyv * xh;
                *dbv += dyv;
            }
        }
    }
}

/// Forward: the output and per-row (mean, 1/σ).
fn forward(x: &FlexTensor, w: &FlexTensor, b: Option<&FlexTensor>, eps: f64) -> (FlexTensor, Vec<(f32, f32)>) {
    let shape = x.layout().shape().clone();
    let d = shape[shape.num_dims() - 1];
    let (x, w, b) = (contiguous(x), contiguous(w), b.map(contiguous));
    let (xv, wv, bias) = (values(&x), values(&w), b.as_ref().map(values));
    let rows = xv.len() / d;
    let mut out = vec![0.0f32; xv.len()];
    let mut stats = vec![(0.0f32, 0.0f32); rows];
    let (out_ptr, stats_ptr) = (SharedMut(out.as_mut_ptr()), SharedMut(stats.as_mut_ptr()));
    par_ranges(rows, ROWS, |a, z| {
        // SAFETY: row blocks [a, z) are disjoint and inside both buffers.
        let (o, st) = unsafe {
            (
                std::slice::from_raw_parts_mut(out_ptr.get().add(a * d), (z - a) * d),
                std::slice::from_raw_parts_mut(stats_ptr.get().add(a), z - a),
            )
        };
        forward_rows(&xv[a * d..z * d], wv, bias, eps as f32, o, st);
    });
    (flex(out, shape), stats)
}

#[derive(Debug, Clone)]
struct State {
    x: FlexTensor,
    w: FlexTensor,
    stats: Arc<Vec<(f32, f32)>>,
}

#[derive(Debug)]
struct NormBackward;

impl<const N: usize> Backward<Flex, N> for NormBackward {
    type State = State;

    fn backward(self, ops: Ops<State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let State { x, w, stats } = &ops.state;
        let shape = x.layout().shape().clone();
        let d = shape[shape.num_dims() - 1];
        let (x, grad, w) = (contiguous(x), contiguous(&grad), contiguous(w));
        let (xv, gv, wv) = (values(&x), values(&grad), values(&w));
        let rows = xv.len() / d;
        let mut dx = vec![0.0f32; xv.len()];
        let blocks: Vec<(usize, &mut [f32])> = dx.chunks_mut(ROWS * d).enumerate().collect();
        let partial: Vec<(Vec<f32>, Vec<f32>)> = blocks
            .into_par_iter()
            .map(|(i, dxb)| {
                let (a, z) = (i * ROWS, ((i + 1) * ROWS).min(rows));
                let (mut dw, mut db) = (vec![0.0f32; d], vec![0.0f32; d]);
                let (xs, gs) = (&xv[a * d..z * d], &gv[a * d..z * d]);
                backward_rows(xs, gs, wv, &stats[a..z], N == 3, dxb, (&mut dw, &mut db));
                (dw, db)
            })
            .collect();
        let (mut dw, mut db) = (vec![0.0f32; d], vec![0.0f32; d]);
        for (pw, pb) in partial {
            dw.iter_mut().zip(pw).for_each(|(a, b)| *a += b);
            db.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
        }
        let mut grads_in = [flex(dx, shape), flex(dw, [d]), flex(db, [d])].into_iter();
        register(grads, ops, std::array::from_fn(|_| grads_in.next().expect("a gradient per input")));
    }
}

fn tracked<const N: usize>(inputs: [AdTensor; N], eps: f64) -> AdTensor
where
    NormBackward: Backward<Flex, N, State = State>,
{
    record(NormBackward, inputs, |prims, keep| {
        // x is made contiguous once, here: backward reads the same copy.
        let (x, w) = (contiguous(&prims[0]), &prims[1]);
        let (y, stats) = forward(&x, w, prims.get(2), eps);
        (y, keep.then(|| State { x, w: w.clone(), stats: Arc::new(stats) }))
    })
}
