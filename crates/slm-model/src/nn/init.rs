//! How a parameter starts when no checkpoint provides it.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// The initial values of a fresh parameter.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    /// Normal with mean 0 and this standard deviation.
    Normal(f64),
    /// All ones (norm gains).
    Ones,
    /// All zeros (biases).
    Zeros,
}

impl Init {
    /// `n` values drawn from `rng` (only `Normal` draws).
    pub fn values(self, n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
        match self {
            Init::Ones => vec![1.0; n],
            Init::Zeros => vec![0.0; n],
            Init::Normal(std) => (0..n).map(|_| (normal(rng) * std) as f32).collect(),
        }
    }
}

/// A standard normal sample (Box–Muller), from slm's own generator so that initialisation is the same
/// on every backend.
pub fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
