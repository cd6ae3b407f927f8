//! How a kernel reaches Burn: the flex primitive of a tensor (or `None`, so the reference path runs), the
//! registration of a kernel as one operation in Burn's autodiff graph with its own backward, and the gemm
//! and parallel-loop helpers the kernels share.

use std::sync::OnceLock;

use burn::prelude::*;
use burn::tensor::{DType, TensorData};
use burn_autodiff::Autodiff;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};

/// Burn's autodiff over flex, the backend slm trains on by default.
pub(crate) type Ad = Autodiff<Flex>;
/// A float tensor of that backend: a flex tensor plus its node in the autodiff graph.
pub(crate) type AdTensor = burn_backend::tensor::FloatTensor<Ad>;
/// The checkpointing strategy of Burn's dispatch (none: forward values are kept for backward).
pub(crate) type Strategy = burn_autodiff::checkpoint::strategy::NoCheckpointing;

/// A float tensor as the kernels see it.
pub(crate) enum Prim {
    /// On flex under autodiff.
    Tracked(AdTensor),
    /// On flex without autodiff (inference).
    Plain(FlexTensor),
}

/// Whether the kernels are on (`SLM_FUSED=0` turns them off).
fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("SLM_FUSED").map(|v| v != "0").unwrap_or(true))
}

/// The flex primitive of an f32 tensor, or `None` where the reference path must run.
pub(crate) fn prim<const D: usize>(t: &Tensor<D>) -> Option<Prim> {
    if !enabled() || t.dtype() != DType::F32 {
        return None;
    }
    if let Ok(p) = t.clone().try_into_primitive::<Ad>() {
        return Some(Prim::Tracked(p));
    }
    t.clone().try_into_primitive::<Flex>().ok().map(Prim::Plain)
}

/// Records operation `op` on `inputs` in the autodiff graph. `forward` gets their primitives and whether
/// backward will run, and returns the output and, in that case, the state `op`'s backward reads.
pub(crate) fn record<O, const N: usize>(
    op: O,
    inputs: [AdTensor; N],
    forward: impl FnOnce(&[FlexTensor; N], bool) -> (FlexTensor, Option<O::State>),
) -> AdTensor
where
    O: Backward<Flex, N>,
{
    let nodes = inputs.each_ref().map(|t| t.node());
    let prims = inputs.map(|t| t.into_primitive());
    match op.prepare::<Strategy>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let (y, state) = forward(&prims, true);
            prep.finish(state.expect("a backward state"), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(&prims, false).0),
    }
}

/// Adds `values[i]` to the gradient of the operation's input i, for the inputs that need one.
pub(crate) fn register<S, const N: usize>(grads: &mut Gradients, ops: Ops<S, N>, values: [FlexTensor; N]) {
    for (parent, g) in ops.parents.into_iter().zip(values) {
        if let Some(node) = parent {
            grads.register::<Flex>(node.id, g);
        }
    }
}

/// A tensor of `values` with `shape`.
pub(crate) fn flex(values: Vec<f32>, shape: impl Into<burn::tensor::Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

/// `t` with its values in row-major order: the same tensor (a cheap handle) unless it is a strided view,
/// which is copied.
pub(crate) fn contiguous(t: &FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() { t.clone() } else { t.to_contiguous() }
}

/// The values of an f32 tensor that `contiguous` returned.
pub(crate) fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("a contiguous f32 tensor")
}

/// A raw pointer that rayon tasks writing disjoint parts of one buffer may share.
pub(crate) struct SharedMut<T>(pub *mut T);
impl<T> Clone for SharedMut<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SharedMut<T> {}
impl<T> SharedMut<T> {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper rather than its field).
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}
// SAFETY: every user writes through it only at offsets no other task touches.
unsafe impl<T> Send for SharedMut<T> {}
unsafe impl<T> Sync for SharedMut<T> {}

/// A gemm operand: pointer to its first value, row stride, column stride (any layout, transposes included).
pub(crate) type Operand = (*const f32, isize, isize);

/// Multiply-adds above which a gemm is split across threads (as flex does), unless it already runs on one
/// of rayon's threads (attention's per-head tasks, the trainer's data-parallel shards).
const PARALLEL_WORK: usize = 1 << 21;

/// `dst (m×n, row stride dst_rs) = [dst +] alpha · lhs (m×k) · rhs (k×n)`.
///
/// # Safety
/// The operands must address matrices of those shapes and strides, and `dst` an m×n matrix.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_rs: isize,
    accumulate: bool,
    lhs: Operand,
    rhs: Operand,
    alpha: f32,
) {
    let split = m * n * k >= PARALLEL_WORK && rayon::current_thread_index().is_none();
    let parallelism = if split { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
    // SAFETY: forwarded from the caller. (The gemm crate takes column strides first.)
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs,
            accumulate,
            lhs.0,
            lhs.2,
            lhs.1,
            rhs.0,
            rhs.2,
            rhs.1,
            1.0,
            alpha,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// Splits `0..n` into about `per`-sized chunks and runs `f(start, end)` on each, in parallel.
pub(crate) fn par_ranges(n: usize, per: usize, f: impl Fn(usize, usize) + Sync) {
    use rayon::prelude::*;
    let chunks = n.div_ceil(per.max(1));
    (0..chunks).into_par_iter().for_each(|c| f(c * per, ((c + 1) * per).min(n)));
}
