//! The small dense algebra the attribution methods need: weighted ridge regression (LIME, kernel SHAP)
//! and Gauss–Legendre quadrature on [0, 1] (integrated gradients, as captum's default rule).

/// Solves `a · x = b` for a symmetric positive-definite `a` (`k × k`, row-major) by Gaussian elimination
/// with partial pivoting.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>) -> Vec<f64> {
    let k = b.len();
    for col in 0..k {
        let pivot = (col..k).max_by(|&i, &j| a[i * k + col].abs().total_cmp(&a[j * k + col].abs())).unwrap_or(col);
        if pivot != col {
            for c in 0..k {
                a.swap(col * k + c, pivot * k + c);
            }
            b.swap(col, pivot);
        }
        let p = a[col * k + col];
        if p.abs() < 1e-300 {
            continue;
        }
        for row in col + 1..k {
            let f = a[row * k + col] / p;
            if f != 0.0 {
                for c in col..k {
                    a[row * k + c] -= f * a[col * k + c];
                }
                b[row] -= f * b[col];
            }
        }
    }
    let mut x = vec![0.0; k];
    for row in (0..k).rev() {
        let p = a[row * k + row];
        let rest: f64 = (row + 1..k).map(|c| a[row * k + c] * x[c]).sum();
        x[row] = if p.abs() < 1e-300 { 0.0 } else { (b[row] - rest) / p };
    }
    x
}

/// Weighted ridge regression: the coefficients `β` (and an intercept when `intercept`, returned last)
/// minimising `Σ w_s (y_s − x_s·β − c)² + alpha·|β|²` (the intercept is not penalised).
pub fn ridge(x: &[Vec<f64>], y: &[f64], w: &[f64], alpha: f64, intercept: bool) -> Vec<f64> {
    let p = x.first().map_or(0, Vec::len);
    let k = p + usize::from(intercept);
    let mut a = vec![0.0; k * k];
    let mut b = vec![0.0; k];
    for ((row, &ys), &ws) in x.iter().zip(y).zip(w) {
        let feature = |i: usize| if i < p { row[i] } else { 1.0 };
        for i in 0..k {
            let fi = feature(i) * ws;
            b[i] += fi * ys;
            for j in 0..k {
                a[i * k + j] += fi * feature(j);
            }
        }
    }
    for i in 0..p {
        a[i * k + i] += alpha;
    }
    solve(a, b)
}

/// Gauss–Legendre nodes and weights on [0, 1] (`n` points; the weights sum to 1): numpy's `leggauss`
/// moved from [−1, 1], which captum's integrated gradients use by default.
pub fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut nodes, mut weights) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        // Newton's method on P_n from the Chebyshev-like first guess.
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut derivative = 0.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=n {
                let k = k as f64;
                let p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
                p0 = p1;
                p1 = p2;
            }
            let pn = if n == 0 { 1.0 } else { p1 };
            let pn_1 = if n <= 1 { 1.0 } else { p0 };
            derivative = n as f64 * (x * pn - pn_1) / (x * x - 1.0);
            let step = pn / derivative;
            x -= step;
            if step.abs() < 1e-15 {
                break;
            }
        }
        nodes.push((1.0 - x) / 2.0);
        weights.push(1.0 / ((1.0 - x * x) * derivative * derivative));
    }
    (nodes, weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        let (x, w) = gauss_legendre(5);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // ∫₀¹ t⁹ dt = 0.1: exact for degree ≤ 2n − 1 = 9.
        let integral: f64 = x.iter().zip(&w).map(|(t, w)| w * t.powi(9)).sum();
        assert!((integral - 0.1).abs() < 1e-12, "{integral}");
        // numpy.polynomial.legendre.leggauss(2): ±1/√3 with weights 1, moved to [0, 1].
        let (x, w) = gauss_legendre(2);
        let mut x = x;
        x.sort_by(f64::total_cmp);
        assert!((x[0] - (1.0 - 1.0 / 3f64.sqrt()) / 2.0).abs() < 1e-12 && (w[0] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn ridge_recovers_a_weighted_linear_fit() {
        // y = 2·x0 − x1 + 3 exactly: with no penalty the fit is exact whatever the weights.
        let x: Vec<Vec<f64>> = (0..20).map(|i| vec![f64::from(i % 5), f64::from(i % 3)]).collect();
        let y: Vec<f64> = x.iter().map(|r| 2.0 * r[0] - r[1] + 3.0).collect();
        let w: Vec<f64> = (0..20).map(|i| 1.0 + f64::from(i)).collect();
        let beta = ridge(&x, &y, &w, 0.0, true);
        for (b, want) in beta.iter().zip([2.0, -1.0, 3.0]) {
            assert!((b - want).abs() < 1e-9, "{beta:?}");
        }
        // A penalty shrinks the slopes.
        let shrunk = ridge(&x, &y, &w, 100.0, true);
        assert!(shrunk[0].abs() < 2.0);
    }
}
