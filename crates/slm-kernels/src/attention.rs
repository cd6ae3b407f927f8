//! Scaled dot-product attention as one kernel per (batch, key/value head), forward and backward.
//!
//! Forward, for each query head: S = Q·Kᵀ/√d (one small gemm), softmax over the visible keys, O = P·V
//! (another gemm) written straight into the `[batch, tokens, heads·d]` layout the output projection reads.
//! The probabilities P are kept for backward: dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP)),
//! dQ = dS·K/√d, dK = dSᵀ·Q/√d. Query heads that share a key/value head (grouped-query attention) read it in
//! place and add their dK, dV into it: nothing is copied per head.

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::module::attention as burn_attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops};
use burn_flex::{Flex, FlexTensor};

use crate::dispatch::{Ad, AdTensor, Prim, SharedMut, contiguous, flex, gemm, prim, record, register, values};
use crate::vmath::{self, multiversion};

/// Attention of `q` `[batch, heads, tokens, d]` over `k`, `v` `[batch, kv_heads, keys, d]` (`kv_heads`
/// divides `heads`), causal when `causal` (query i sees keys up to i + keys − tokens), restricted further
/// by `mask` `[batch or 1, 1, tokens, keys]` (true = hidden) when given. Returns `[batch, tokens, heads·d]`.
///
/// One new token over a cache with grouped-query attention (decoding) runs as `heads / kv_heads` queries
/// of each key/value head, so keys and values are never copied per head.
///
/// # Panics
/// If the shapes disagree: batch, head size or key count of q, k and v; heads not a multiple of kv_heads;
/// more queries than keys; a mask of another shape.
pub fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, mask: Option<Tensor<4, Bool>>, causal: bool) -> Tensor<3> {
    check_shapes(&q, &k, &v, mask.as_ref());
    if q.dims()[2] == 1 && q.dims()[1] > k.dims()[1] {
        return decode(q, k, v, mask);
    }
    if mask.is_none() {
        match (prim(&q), prim(&k), prim(&v)) {
            (Some(Prim::Tracked(q)), Some(Prim::Tracked(k)), Some(Prim::Tracked(v))) => {
                crate::ran(crate::Kernel::Attention);
                return Tensor::from_primitive::<Ad>(tracked(q, k, v, causal));
            }
            (Some(Prim::Plain(q)), Some(Prim::Plain(k)), Some(Prim::Plain(v))) => {
                crate::ran(crate::Kernel::Attention);
                return Tensor::from_primitive::<Flex>(forward(&q, &k, &v, causal, false).0);
            }
            _ => {}
        }
    }
    attention_reference(q, k, v, mask, causal)
}

/// Panics with a sentence when q, k, v and the mask do not fit together.
fn check_shapes(q: &Tensor<4>, k: &Tensor<4>, v: &Tensor<4>, mask: Option<&Tensor<4, Bool>>) {
    let ([b, heads, t, d], kd, vd) = (q.dims(), k.dims(), v.dims());
    assert!(kd == vd, "attention: k {kd:?} and v {vd:?} differ in shape");
    assert!(kd[0] == b && kd[3] == d, "attention: q {:?} and k {kd:?} differ in batch or head size", q.dims());
    assert!(
        kd[1] > 0 && heads % kd[1] == 0,
        "attention: {heads} query heads are not a multiple of {} key/value heads",
        kd[1]
    );
    assert!(kd[2] >= t, "attention: {t} queries over only {} keys", kd[2]);
    if let Some(m) = mask {
        let [mb, mh, mq, mk] = m.dims();
        assert!(
            (mb == b || mb == 1) && mh == 1 && mq == t && mk == kd[2],
            "attention: mask {:?} does not fit {t} queries over {} keys in a batch of {b}",
            m.dims(),
            kd[2]
        );
    }
}

/// One query token per row with grouped-query attention: the `rep` query heads that share a key/value
/// head attend as `rep` queries of that head. A single new token sees every cached key, so only the
/// padding mask applies.
fn decode(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, mask: Option<Tensor<4, Bool>>) -> Tensor<3> {
    let [b, heads, _, hd] = q.dims();
    let kv_heads = k.dims()[1];
    let rep = heads / kv_heads;
    let q = q.reshape([b, kv_heads, rep, hd]);
    let mask = mask.map(|m| {
        let [mb, _, _, mk] = m.dims();
        m.expand([mb, kv_heads, rep, mk])
    });
    let opts = AttentionModuleOptions { scale: None, softcap: None, is_causal: false };
    burn_attention(q, k, v, mask, None, opts).reshape([b, 1, heads * hd])
}

/// The same attention in Burn operations (any backend, any mask).
pub fn attention_reference(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    mask: Option<Tensor<4, Bool>>,
    causal: bool,
) -> Tensor<3> {
    let [b, heads, t, hd] = q.dims();
    let rep = heads / k.dims()[1];
    let expand = |y: Tensor<4>| {
        if rep == 1 {
            return y;
        }
        let [b, kvh, s, d] = y.dims();
        y.unsqueeze_dim::<5>(2).expand([b, kvh, rep, s, d]).reshape([b, kvh * rep, s, d])
    };
    let mask = mask.map(|m| {
        let [mb, _, mq, mk] = m.dims();
        m.expand([mb, heads, mq, mk])
    });
    let opts = AttentionModuleOptions { scale: None, softcap: None, is_causal: causal };
    burn_attention(q, expand(k), expand(v), mask, None, opts).swap_dims(1, 2).reshape([b, t, heads * hd])
}

/// A `[batch, heads, rows, d]` operand read in place through its strides.
struct View<'a> {
    values: &'a [f32],
    offset: usize,
    strides: [isize; 4],
}

impl View<'_> {
    fn of(t: &FlexTensor) -> View<'_> {
        let s = t.layout().strides();
        View { values: t.storage::<f32>(), offset: t.layout().start_offset(), strides: [s[0], s[1], s[2], s[3]] }
    }

    /// Pointer to row 0 of head `h` of batch `b`.
    fn head(&self, b: usize, h: usize) -> *const f32 {
        let at = self.offset as isize + b as isize * self.strides[0] + h as isize * self.strides[1];
        self.values[at as usize..].as_ptr()
    }

    fn row_stride(&self) -> isize {
        self.strides[2]
    }
}

/// `t` itself when its last dimension is contiguous (what the kernels need), else a contiguous copy.
fn rows_contiguous(t: &FlexTensor) -> FlexTensor {
    if t.layout().strides()[3] == 1 { t.clone() } else { t.to_contiguous() }
}

/// Shapes of one call.
#[derive(Debug, Clone, Copy)]
struct Dims {
    b: usize,
    heads: usize,
    kv_heads: usize,
    t: usize,
    s: usize,
    d: usize,
    causal: bool,
}

impl Dims {
    fn of(q: &FlexTensor, k: &FlexTensor, causal: bool) -> Dims {
        let (qs, ks) = (q.layout().shape(), k.layout().shape());
        Dims { b: qs[0], heads: qs[1], kv_heads: ks[1], t: qs[2], s: ks[2], d: qs[3], causal }
    }

    fn rep(&self) -> usize {
        self.heads / self.kv_heads
    }

    /// Keys query row `i` sees.
    fn visible(&self, i: usize) -> usize {
        if self.causal { (i + 1 + self.s - self.t).min(self.s) } else { self.s }
    }

    fn scale(&self) -> f32 {
        1.0 / (self.d as f32).sqrt()
    }
}

multiversion! {
    /// Softmax over the first `visible(i)` entries of each row of `p` (`t × s`), zeros after them.
    fn softmax_rows(p: &mut [f32], dims: Dims) {
        for (i, row) in p.chunks_exact_mut(dims.s).enumerate() {
            let (seen, hidden) = row.split_at_mut(dims.visible(i));
            vmath::softmax_in_place(seen);
            hidden.fill(0.0);
        }
    }
}

multiversion! {
    /// dS = P ⊙ (dP − rowsum(P ⊙ dP)), in place of dP.
    fn softmax_backward_rows(p: &[f32], dp: &mut [f32], s: usize) {
        for (prow, grow) in p.chunks_exact(s).zip(dp.chunks_exact_mut(s)) {
            let centre = vmath::dot(prow, grow);
            for (g, &p) in grow.iter_mut().zip(prow) {
                *g = p * (*g - centre);
            }
        }
    }
}

/// Forward: the output `[b, t, heads·d]` and, when `keep` (for backward), the probabilities
/// `[b, heads, t, s]`; otherwise each task reuses one scratch block.
fn forward(q: &FlexTensor, k: &FlexTensor, v: &FlexTensor, causal: bool, keep: bool) -> (FlexTensor, Vec<f32>) {
    use rayon::prelude::*;
    let dims = Dims::of(q, k, causal);
    let Dims { b, heads, t, s, d, .. } = dims;
    let (rep, block) = (dims.rep(), t * s);
    let mut out = vec![0.0f32; b * t * heads * d];
    let out_ptr = SharedMut(out.as_mut_ptr());
    let (q, k, v) = (rows_contiguous(q), rows_contiguous(k), rows_contiguous(v));
    let (q, k, v) = (View::of(&q), View::of(&k), View::of(&v));
    // The heads of one key/value group: `p` holds their probabilities, `rep` blocks of t × s.
    let group = |group: usize, p: &mut [f32]| {
        let (bi, g) = (group / dims.kv_heads, group % dims.kv_heads);
        for (r, p) in p.chunks_exact_mut(block).enumerate() {
            let h = g * rep + r;
            // SAFETY: shapes and strides come from the tensors; each (bi, h) writes its own output columns.
            unsafe {
                let o = out_ptr.get().add(bi * t * heads * d + h * d);
                let (qh, kg, vg) = (
                    (q.head(bi, h), q.row_stride(), 1),
                    (k.head(bi, g), 1, k.row_stride()),
                    (v.head(bi, g), v.row_stride(), 1),
                );
                gemm((t, s, d), p.as_mut_ptr(), s as isize, false, qh, kg, dims.scale());
                softmax_rows(p, dims);
                gemm((t, d, s), o, (heads * d) as isize, false, (p.as_ptr(), s as isize, 1), vg, 1.0);
            }
        }
    };
    let mut probs = Vec::new();
    if keep {
        probs = vec![0.0f32; b * heads * block];
        probs.par_chunks_mut(rep * block).enumerate().for_each(|(g, p)| group(g, p));
    } else {
        (0..b * dims.kv_heads).into_par_iter().for_each_init(|| vec![0.0f32; rep * block], |p, g| group(g, p));
    }
    (flex(out, [b, t, heads * d]), probs)
}

/// Backward: dQ `[b, heads, t, d]`, dK and dV `[b, kv_heads, s, d]` (each stored token-major, so that the
/// reshapes feeding the projections stay free).
fn backward(state: &State, grad: &FlexTensor) -> [FlexTensor; 3] {
    use rayon::prelude::*;
    let State { q, k, v, probs, dims } = state;
    let Dims { b, heads, kv_heads, t, s, d, .. } = *dims;
    let (rep, block) = (dims.rep(), t * s);
    let mut dq = vec![0.0f32; b * t * heads * d];
    let mut dkv = vec![0.0f32; 2 * b * s * kv_heads * d];
    let (dk, dv) = dkv.split_at_mut(b * s * kv_heads * d);
    let (dq_ptr, dk_ptr, dv_ptr) = (SharedMut(dq.as_mut_ptr()), SharedMut(dk.as_mut_ptr()), SharedMut(dv.as_mut_ptr()));
    let (q_rs, kv_rs) = ((heads * d) as isize, (kv_heads * d) as isize);
    let (q, k, v) = (rows_contiguous(q), rows_contiguous(k), rows_contiguous(v));
    let (q, k, v) = (View::of(&q), View::of(&k), View::of(&v));
    let grad = contiguous(grad);
    let dout = values(&grad);
    (0..b * kv_heads).into_par_iter().for_each(|group| {
        let (bi, g) = (group / kv_heads, group % kv_heads);
        let mut ds = vec![0.0f32; block];
        for r in 0..rep {
            let h = g * rep + r;
            let p = &probs[(bi * heads + h) * block..][..block];
            let go = (dout[bi * t * heads * d + h * d..].as_ptr(), q_rs, 1);
            // SAFETY: as in forward; group (bi, g) alone writes dK, dV of its head and dQ of its query heads.
            unsafe {
                let dkg = dk_ptr.get().add(bi * s * kv_heads * d + g * d);
                let dvg = dv_ptr.get().add(bi * s * kv_heads * d + g * d);
                let dqh = dq_ptr.get().add(bi * t * heads * d + h * d);
                let (pt, dst) = ((p.as_ptr(), 1, s as isize), (ds.as_ptr(), 1, s as isize));
                gemm((s, d, t), dvg, kv_rs, r > 0, pt, go, 1.0);
                gemm((t, s, d), ds.as_mut_ptr(), s as isize, false, go, (v.head(bi, g), 1, v.row_stride()), 1.0);
                softmax_backward_rows(p, &mut ds, s);
                let dsr = (ds.as_ptr(), s as isize, 1);
                gemm((t, d, s), dqh, q_rs, false, dsr, (k.head(bi, g), k.row_stride(), 1), dims.scale());
                gemm((s, d, t), dkg, kv_rs, r > 0, dst, (q.head(bi, h), q.row_stride(), 1), dims.scale());
            }
        }
    });
    let dv = dkv.split_off(b * s * kv_heads * d);
    let token_major = |grad: Vec<f32>, n: usize, rows: usize| flex(grad, [b, rows, n, d]).transpose(1, 2);
    [token_major(dq, heads, t), token_major(dkv, kv_heads, s), token_major(dv, kv_heads, s)]
}

#[derive(Debug, Clone)]
struct State {
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    probs: Arc<Vec<f32>>,
    dims: Dims,
}

#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 3> for AttentionBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let values = backward(&ops.state, &grad);
        register(grads, ops, values);
    }
}

fn tracked(q: AdTensor, k: AdTensor, v: AdTensor, causal: bool) -> AdTensor {
    record(AttentionBackward, [q, k, v], |[q, k, v], keep| {
        let (out, probs) = forward(q, k, v, causal, keep);
        let state =
            || State { q: q.clone(), k: k.clone(), v: v.clone(), probs: Arc::new(probs), dims: Dims::of(q, k, causal) };
        (out, keep.then(state))
    })
}
