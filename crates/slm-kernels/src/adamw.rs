//! One AdamW update of one parameter in a single pass over its values, gradient and moments (Burn
//! operations would make eight passes and as many temporaries).

use burn::prelude::*;
use burn_flex::Flex;

use crate::dispatch::{Prim, SharedMut, contiguous, flex, par_ranges, prim, values};
use crate::vmath::multiversion;

/// Values per parallel task.
const CHUNK: usize = 1 << 16;

/// The constants of one update (PyTorch's AdamW): `scale` multiplies the gradient (global-norm clipping),
/// `decay` the old value (1 − lr·weight_decay, or 1), and `bias1`, `bias2` are 1 − βᵗ.
#[derive(Debug, Clone, Copy)]
pub struct AdamWUpdate {
    /// Learning rate.
    pub lr: f64,
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Factor on the old value (decoupled weight decay).
    pub decay: f64,
    /// 1 − β₁ᵗ.
    pub bias1: f64,
    /// 1 − β₂ᵗ.
    pub bias2: f64,
    /// Factor on the gradient.
    pub scale: f64,
}

/// The updated `(value, m, v)` of a flattened parameter with gradient `grad` and moments `m`, `v`.
///
/// # Panics
/// If the four tensors are not of one length.
pub fn adamw(value: Tensor<1>, grad: Tensor<1>, m: Tensor<1>, v: Tensor<1>, u: &AdamWUpdate) -> [Tensor<1>; 3] {
    let lengths = [&value, &grad, &m, &v].map(|t| t.dims()[0]);
    assert!(lengths.iter().all(|&n| n == lengths[0]), "adamw: value, gradient and moments of lengths {lengths:?}");
    match (prim(&value), prim(&grad), prim(&m), prim(&v)) {
        (Some(Prim::Plain(p)), Some(Prim::Plain(g)), Some(Prim::Plain(m)), Some(Prim::Plain(v))) => {
            let n = p.layout().shape().num_elements();
            let mut out = [vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]];
            let ptrs = out.each_mut().map(|o| SharedMut(o.as_mut_ptr()));
            let inputs = [&p, &g, &m, &v].map(contiguous);
            let [p, g, m, v] = inputs.each_ref().map(values);
            par_ranges(n, CHUNK, |a, b| {
                // SAFETY: chunks [a, b) are disjoint and inside the three outputs.
                let [np, nm, nv] = ptrs.map(|q| unsafe { std::slice::from_raw_parts_mut(q.get().add(a), b - a) });
                kernel([&p[a..b], &g[a..b], &m[a..b], &v[a..b]], [np, nm, nv], Constants::of(u));
            });
            crate::ran(crate::Kernel::AdamW);
            out.map(|o| Tensor::from_primitive::<Flex>(flex(o, [n])))
        }
        _ => adamw_reference(value, grad, m, v, u),
    }
}

/// The same update in Burn operations (any backend).
pub fn adamw_reference(
    value: Tensor<1>,
    grad: Tensor<1>,
    m: Tensor<1>,
    v: Tensor<1>,
    u: &AdamWUpdate,
) -> [Tensor<1>; 3] {
    let g = if u.scale == 1.0 { grad } else { grad.mul_scalar(u.scale) };
    let m = m.mul_scalar(u.beta1).add(g.clone().mul_scalar(1.0 - u.beta1));
    let v = v.mul_scalar(u.beta2).add(g.powi_scalar(2).mul_scalar(1.0 - u.beta2));
    let decayed = if u.decay == 1.0 { value } else { value.mul_scalar(u.decay) };
    let denom = v.clone().div_scalar(u.bias2).sqrt().add_scalar(u.eps);
    let new = decayed.sub(m.clone().div(denom).mul_scalar(u.lr / u.bias1));
    [new, m, v]
}

/// The update's constants in f32, as Burn's scalar operations use them.
#[derive(Clone, Copy)]
struct Constants {
    scale: f32,
    b1: f32,
    c1: f32,
    b2: f32,
    c2: f32,
    decay: f32,
    bias2: f32,
    eps: f32,
    step: f32,
}

impl Constants {
    fn of(u: &AdamWUpdate) -> Constants {
        Constants {
            scale: u.scale as f32,
            b1: u.beta1 as f32,
            c1: (1.0 - u.beta1) as f32,
            b2: u.beta2 as f32,
            c2: (1.0 - u.beta2) as f32,
            decay: u.decay as f32,
            bias2: u.bias2 as f32,
            eps: u.eps as f32,
            step: (u.lr / u.bias1) as f32,
        }
    }
}

multiversion! {
    fn kernel(inputs: [&[f32]; 4], outputs: [&mut [f32]; 3], c: Constants) {
        let [p, g, m, v] = inputs;
        let [np, nm, nv] = outputs;
        for (((((np, nm), nv), &p), &g), (&m, &v)) in np.iter_mut().zip(nm).zip(nv).zip(p).zip(g).zip(m.iter().zip(v)) {
            let g = g * c.scale;
            let m = m * c.b1 + g * c.c1;
            let v = v * c.b2 + g * g * c.c2;
            *nm = m;
            *nv = v;
            *np = p * c.decay - m / ((v / c.bias2).sqrt() + c.eps) * c.step;
        }
    }
}
