//! The fused CPU kernels against the Burn compositions they replace: outputs and gradients of every input,
//! on the autodiff device (training) and the plain one (inference).

use burn::prelude::*;
use burn::tensor::TensorData;
use slm_kernels as fused;

/// Deterministic values in about [-2, 2].
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

fn tensor<const D: usize>(shape: [usize; D], seed: u64, device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values(shape.iter().product(), seed), shape), device)
}

fn vec_of<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs() / (1.0 + b.abs())).fold(0.0f32, f32::max);
    assert!(worst <= tol, "{what}: worst difference {worst} > {tol}");
}

/// Output and input gradients of `f` (weighted by fixed random weights, so every output element counts).
fn run<const D: usize, const O: usize>(
    inputs: &[Tensor<D>],
    f: impl Fn(Vec<Tensor<D>>) -> Tensor<O>,
    device: &Device,
) -> (Vec<f32>, Vec<Vec<f32>>) {
    let tracked: Vec<Tensor<D>> = inputs.iter().map(|t| t.clone().require_grad()).collect();
    let out = f(tracked.clone());
    let weights = tensor(out.dims(), 99, device);
    let grads = out.clone().mul(weights).sum().backward();
    (vec_of(out), tracked.iter().map(|t| vec_of(t.grad(&grads).expect("a gradient"))).collect())
}

fn compare<const D: usize, const O: usize>(
    what: &str,
    inputs: Vec<Tensor<D>>,
    fused: impl Fn(Vec<Tensor<D>>) -> Tensor<O>,
    reference: impl Fn(Vec<Tensor<D>>) -> Tensor<O>,
) {
    let device = Device::flex().autodiff();
    let inputs: Vec<Tensor<D>> = inputs.into_iter().map(|t| Tensor::from_data(t.into_data(), &device)).collect();
    let (out, grads) = run(&inputs, &fused, &device);
    let (want, want_grads) = run(&inputs, &reference, &device);
    assert_close(&format!("{what} output"), &out, &want, 2e-6);
    for (i, (g, w)) in grads.iter().zip(&want_grads).enumerate() {
        assert_close(&format!("{what} gradient of input {i}"), g, w, 2e-5);
    }
    // Inference (no autodiff) takes the same kernels.
    let plain = Device::flex();
    let inputs: Vec<Tensor<D>> = inputs.into_iter().map(|t| Tensor::from_data(t.into_data(), &plain)).collect();
    assert_close(&format!("{what} inference output"), &vec_of(fused(inputs.clone())), &vec_of(reference(inputs)), 2e-6);
}

#[test]
fn attention_matches_burn_causal_full_grouped_and_cached() {
    let device = Device::flex();
    // (batch, heads, kv heads, queries, keys, head dim, causal)
    for (b, h, kvh, t, s, d, causal) in [
        (2, 4, 4, 16, 16, 8, true),
        (3, 2, 2, 9, 9, 32, false),
        (2, 6, 2, 7, 7, 16, true),
        (1, 4, 1, 5, 12, 8, true),
        (2, 3, 3, 1, 10, 64, true),
    ] {
        // q, k, v as the model makes them: [b, t, heads, d] swapped to [b, heads, t, d] (strided views).
        let q = tensor([b, t, h, d], 1, &device);
        let k = tensor([b, s, kvh, d], 2, &device);
        let v = tensor([b, s, kvh, d], 3, &device);
        let heads_first = |x: &Tensor<4>| x.clone().swap_dims(1, 2);
        compare(
            &format!("attention b{b} h{h} kv{kvh} t{t} s{s} d{d} causal {causal}"),
            vec![q, k, v],
            |x| fused::attention(heads_first(&x[0]), heads_first(&x[1]), heads_first(&x[2]), None, causal),
            |x| fused::attention_reference(heads_first(&x[0]), heads_first(&x[1]), heads_first(&x[2]), None, causal),
        );
    }
}

#[test]
fn layer_norm_and_rms_norm_match_burn() {
    let device = Device::flex();
    for (rows, d) in [(3, 8), (130, 128), (7, 50)] {
        let x = tensor([1, rows, d], 4, &device).mul_scalar(3.0).add_scalar(0.5);
        let w = tensor([d], 5, &device).reshape([1, 1, d]);
        let b = tensor([d], 6, &device).reshape([1, 1, d]);
        let flat = |t: &Tensor<3>| t.clone().reshape([d]);
        compare(
            &format!("layer norm {rows}x{d}"),
            vec![x.clone(), w.clone(), b],
            |v| fused::norm(v[0].clone(), flat(&v[1]), Some(flat(&v[2])), 1e-5),
            |v| fused::norm_reference(v[0].clone(), flat(&v[1]), Some(flat(&v[2])), 1e-5),
        );
        compare(
            &format!("rms norm {rows}x{d}"),
            vec![x, w],
            |v| fused::norm(v[0].clone(), flat(&v[1]), None, 1e-6),
            |v| fused::norm_reference(v[0].clone(), flat(&v[1]), None, 1e-6),
        );
    }
}

#[test]
fn gelu_matches_burn() {
    let device = Device::flex();
    // Large enough for several parallel chunks, with values far into both tails.
    let x = tensor([3, 100, 400], 7, &device).mul_scalar(4.0);
    compare("gelu", vec![x], |v| fused::gelu_tanh(v[0].clone()), |v| fused::gelu_tanh_reference(v[0].clone()));
}

#[test]
fn linear_matches_burn_with_and_without_bias_and_with_a_transposed_weight() {
    let device = Device::flex();
    for (rows, d_in, d_out) in [(1, 5, 3), (96, 32, 48), (2, 700, 13)] {
        let x = tensor([2, rows, d_in], 8, &device);
        let w = tensor([d_in, d_out], 9, &device).reshape([1, d_in, d_out]);
        let b = tensor([d_out], 10, &device).reshape([1, 1, d_out]);
        let (wm, bv) = (|t: &Tensor<3>| t.clone().reshape([d_in, d_out]), |t: &Tensor<3>| t.clone().reshape([d_out]));
        compare(
            &format!("linear {rows}x{d_in}x{d_out} with bias"),
            vec![x.clone(), w.clone(), b],
            |v| fused::linear(v[0].clone(), wm(&v[1]), Some(bv(&v[2]))),
            |v| fused::linear_reference(v[0].clone(), wm(&v[1]), Some(bv(&v[2]))),
        );
        // A tied LM head reads the embedding `[out, in]` through a transposed view.
        let e = tensor([d_out, d_in], 11, &device).reshape([1, d_out, d_in]);
        let et = |t: &Tensor<3>| t.clone().reshape([d_out, d_in]).transpose();
        compare(
            &format!("linear {rows}x{d_in}x{d_out} transposed weight"),
            vec![x, e],
            |v| fused::linear(v[0].clone(), et(&v[1]), None),
            |v| fused::linear_reference(v[0].clone(), et(&v[1]), None),
        );
    }
}

#[test]
fn adamw_update_matches_burn() {
    let device = Device::flex();
    let n = 200_003; // several parallel chunks and a ragged tail
    let [p, g] = [1, 2].map(|s| tensor([n], s, &device));
    let m = tensor([n], 3, &device).mul_scalar(0.1);
    let v = tensor([n], 4, &device).abs().mul_scalar(0.01);
    for (decay, scale) in [(1.0 - 1e-3 * 0.1, 0.5), (1.0, 1.0)] {
        let u = fused::AdamWUpdate {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            decay,
            bias1: 0.19,
            bias2: 0.0297,
            scale,
        };
        let got = fused::adamw(p.clone(), g.clone(), m.clone(), v.clone(), &u);
        let want = fused::adamw_reference(p.clone(), g.clone(), m.clone(), v.clone(), &u);
        for (what, (a, b)) in ["value", "m", "v"].iter().zip(got.into_iter().zip(want)) {
            assert_close(&format!("adamw {what}"), &vec_of(a), &vec_of(b), 1e-6);
        }
    }
}

/// Calls each kernel once on flex (inference), plus a masked attention and a single-token grouped-query
/// decode, which take other paths; returns how many fused runs each kernel counted on this thread.
fn run_each_kernel() -> [u64; 5] {
    use slm_kernels::{Kernel, runs};
    let device = Device::flex();
    let kernels = [Kernel::Attention, Kernel::Norm, Kernel::Gelu, Kernel::Linear, Kernel::AdamW];
    let before = kernels.map(runs);
    let x = tensor([1, 4, 8], 1, &device);
    fused::linear(x.clone(), tensor([8, 8], 2, &device), Some(tensor([8], 3, &device)));
    fused::norm(x.clone(), tensor([8], 4, &device), None, 1e-5);
    fused::gelu_tanh(x);
    let [p, g, m, v] = [5, 6, 7, 8].map(|s| tensor([16], s, &device));
    let u = fused::AdamWUpdate {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.99,
        eps: 1e-8,
        decay: 1.0,
        bias1: 0.1,
        bias2: 0.01,
        scale: 1.0,
    };
    fused::adamw(p, g, m, v, &u);
    let (q, k) = (tensor([1, 2, 4, 8], 9, &device), tensor([1, 2, 4, 8], 10, &device));
    fused::attention(q.clone(), k.clone(), k.clone(), None, true);
    // Neither of these is the fused kernel: a mask, and one query token over grouped key/value heads.
    let mask = Tensor::<4, Bool>::from_data(TensorData::new(vec![false; 16], [1, 1, 4, 4]), &device);
    fused::attention(q, k.clone(), k.clone(), Some(mask), true);
    let kv = tensor([1, 1, 4, 8], 11, &device);
    fused::attention(tensor([1, 2, 1, 8], 12, &device), kv.clone(), kv, None, true);
    let after = kernels.map(runs);
    std::array::from_fn(|i| after[i] - before[i])
}

#[test]
fn the_fused_path_runs_on_flex_and_slm_fused_0_turns_it_off() {
    if std::env::var("SLM_FUSED").as_deref() == Ok("0") {
        // The child process below: every call takes the reference path.
        assert_eq!(run_each_kernel(), [0; 5]);
        return;
    }
    // Attention once (the masked and the decode calls are not fused), every other kernel once.
    assert_eq!(run_each_kernel(), [1, 1, 1, 1, 1]);
    let name = "the_fused_path_runs_on_flex_and_slm_fused_0_turns_it_off";
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads", "1"])
        .env("SLM_FUSED", "0")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&child.stdout);
    assert!(child.status.success() && out.contains("1 passed"), "{out}{}", String::from_utf8_lossy(&child.stderr));
}

#[test]
#[should_panic(expected = "linear: bias of 3 values for 8 outputs")]
fn a_bias_shorter_than_the_output_is_refused() {
    let device = Device::flex();
    fused::linear(tensor([2, 8], 1, &device), tensor([8, 8], 2, &device), Some(tensor([3], 3, &device)));
}

#[test]
#[should_panic(expected = "attention: q [1, 2, 4, 8] and k [1, 2, 4, 4] differ in batch or head size")]
fn mismatched_queries_and_keys_are_refused() {
    let device = Device::flex();
    let (q, k) = (tensor([1, 2, 4, 8], 1, &device), tensor([1, 2, 4, 4], 2, &device));
    fused::attention(q, k.clone(), k, None, true);
}

#[test]
#[should_panic(expected = "attention: 3 query heads are not a multiple of 2 key/value heads")]
fn query_heads_must_group_evenly() {
    let device = Device::flex();
    let (q, k) = (tensor([1, 3, 4, 8], 1, &device), tensor([1, 2, 4, 8], 2, &device));
    fused::attention(q, k.clone(), k, None, true);
}

#[test]
#[should_panic(expected = "norm: gain of 4 values for rows of 8")]
fn a_gain_of_the_wrong_width_is_refused() {
    let device = Device::flex();
    fused::norm(tensor([1, 2, 8], 1, &device), tensor([4], 2, &device), None, 1e-5);
}
