//! Vectorisable f32 math for the fused kernels: a branch-free `exp` (Cephes' polynomial, within 2 ulp of
//! libm over the range that matters) and lane-split sums and maxima, written so LLVM turns the loops into
//! SIMD. `multiversion!` compiles a kernel twice, plain and with AVX2+FMA enabled, and picks at run time, so
//! one binary runs everywhere and uses the wide registers where the CPU has them.

/// Defines `fn $name(args)` whose body is compiled for the baseline target and for AVX2+FMA, choosing the
/// second at run time where the CPU supports it.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn wide($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU supports the features `wide` was compiled for.
                    return unsafe { wide($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// Lanes the reductions split into: enough independent accumulators for 256-bit registers.
const LANES: usize = 8;

/// e^x for f32, branch-free so that loops over it vectorise: 0 below -87.3 (where f32's e^x leaves the
/// normal range), clamped at 88.3 above (2^127 must stay finite); relative error about 1e-7.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5·2²³ rounds to the nearest integer and leaves it in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let tiny = x < -87.3;
    let x = x.clamp(-87.3, 88.3);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let p = p * r * r + r + 1.0;
    let k = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    // Wrapping: slm builds with overflow checks, whose panic branch would stop the loop vectorising.
    let e = p * f32::from_bits((k.wrapping_add(127) as u32) << 23);
    if tiny { 0.0 } else { e }
}

/// σ(x) = 1 / (1 + e^-x).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// Sum of a slice, in `LANES` independent partial sums (so it vectorises).
#[inline(always)]
pub fn sum(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = v.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Dot product of two slices of equal length, in `LANES` partial sums.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Largest value of a non-empty slice (NaN-free input assumed, as in softmax).
#[inline(always)]
pub fn max(v: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = v.chunks_exact(LANES);
    let tail = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m });
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = if x > *a { x } else { *a };
        }
    }
    acc.iter().fold(tail, |m, &x| if x > m { x } else { m })
}

multiversion! {
    /// Replaces `row` by softmax(`row`) in place.
    pub fn softmax_in_place(row: &mut [f32]) {
        let m = max(row);
        for x in row.iter_mut() {
            *x = exp(*x - m);
        }
        let inv = 1.0 / sum(row);
        for x in row.iter_mut() {
            *x *= inv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm_to_two_ulp() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = f64::from(x).exp();
            let got = f64::from(exp(x));
            worst = worst.max(((got - want) / want).abs());
            x += 0.001_7;
        }
        assert!(worst < 2.5e-7, "worst relative error {worst}");
        assert_eq!(exp(-1000.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(1000.0).is_finite());
    }

    #[test]
    fn reductions_match_plain_loops_on_ragged_lengths() {
        for n in [1usize, 7, 8, 9, 33, 100] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.25).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 13 % 7) as f32 - 3.0) * 0.5).collect();
            assert!((sum(&a) - a.iter().sum::<f32>()).abs() < 1e-5);
            assert!((dot(&a, &b) - a.iter().zip(&b).map(|(x, y)| x * y).sum::<f32>()).abs() < 1e-5);
            assert_eq!(max(&a), a.iter().cloned().fold(f32::NEG_INFINITY, f32::max));
        }
        let mut row = vec![1.0, 2.0, 3.0, -1.0e9];
        softmax_in_place(&mut row);
        let z: f64 = [1.0f64, 2.0, 3.0].iter().map(|x| x.exp()).sum();
        for (got, x) in row.iter().zip([1.0f64, 2.0, 3.0]) {
            assert!((f64::from(*got) - x.exp() / z).abs() < 1e-7);
        }
        assert_eq!(row[3], 0.0);
    }
}
