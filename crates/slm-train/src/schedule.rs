//! The learning rate as a pure function of the global step: linear warmup from 0, then constant, linear
//! decay, cosine decay (to a floor) or warmup-stable-decay. Being a function of the step alone, it needs
//! no state to resume.

use serde::{Deserialize, Serialize};

/// The decay after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Decay {
    /// Stay at the peak.
    Constant,
    /// Straight line from the peak to `min_lr` at the last step.
    #[default]
    Linear,
    /// Half a cosine from the peak to `min_lr` at the last step.
    Cosine,
    /// Warmup-stable-decay: the peak until the last `decay_fraction` of steps, then linear to `min_lr`.
    Wsd,
}

/// A schedule: peak `lr`, warmup, decay shape and horizon.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Peak learning rate.
    pub lr: f64,
    /// Steps of linear warmup (step 1 gets lr/warmup, step `warmup` the peak).
    pub warmup: u64,
    /// Decay after warmup.
    pub decay: Decay,
    /// Floor of linear/cosine/wsd decays.
    pub min_lr: f64,
    /// The step at which decay ends (the run's total steps).
    pub total: u64,
    /// WSD: the fraction of all steps spent decaying.
    pub decay_fraction: f64,
}

impl Schedule {
    /// The learning rate of optimizer step `step` (1-based: the first update is step 1).
    pub fn lr(&self, step: u64) -> f64 {
        if step <= self.warmup && self.warmup > 0 {
            return self.lr * step as f64 / self.warmup as f64;
        }
        let total = self.total.max(self.warmup + 1);
        let progress = |from: u64| ((step.min(total) - from) as f64 / (total - from) as f64).clamp(0.0, 1.0);
        match self.decay {
            Decay::Constant => self.lr,
            Decay::Linear => self.lr + (self.min_lr - self.lr) * progress(self.warmup),
            Decay::Cosine => {
                let cos = 0.5 * (1.0 + (std::f64::consts::PI * progress(self.warmup)).cos());
                self.min_lr + (self.lr - self.min_lr) * cos
            }
            Decay::Wsd => {
                let decay_steps = ((total as f64 * self.decay_fraction).round() as u64).clamp(1, total - self.warmup);
                let start = total - decay_steps;
                if step <= start { self.lr } else { self.lr + (self.min_lr - self.lr) * progress(start) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(decay: Decay) -> Schedule {
        Schedule { lr: 1e-3, warmup: 100, decay, min_lr: 1e-4, total: 1100, decay_fraction: 0.2 }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-15
    }

    #[test]
    fn warmup_rises_linearly_to_the_peak() {
        for decay in [Decay::Constant, Decay::Linear, Decay::Cosine, Decay::Wsd] {
            let s = schedule(decay);
            assert!(close(s.lr(1), 1e-5), "{decay:?}");
            assert!(close(s.lr(50), 5e-4), "{decay:?}");
            assert!(close(s.lr(100), 1e-3), "{decay:?}");
        }
    }

    #[test]
    fn decays_end_at_the_floor_and_stay_there() {
        for decay in [Decay::Linear, Decay::Cosine, Decay::Wsd] {
            let s = schedule(decay);
            assert!(close(s.lr(1100), 1e-4), "{decay:?}: {}", s.lr(1100));
            assert!(close(s.lr(5000), 1e-4), "{decay:?}");
        }
        assert!(close(schedule(Decay::Constant).lr(1100), 1e-3));
    }

    #[test]
    fn midpoints() {
        // Halfway through the decay: linear and cosine are both at the mean of peak and floor.
        assert!(close(schedule(Decay::Linear).lr(600), 5.5e-4));
        assert!(close(schedule(Decay::Cosine).lr(600), 5.5e-4));
        // Cosine falls slower than linear early on and faster later.
        assert!(schedule(Decay::Cosine).lr(350) > schedule(Decay::Linear).lr(350));
        assert!(schedule(Decay::Cosine).lr(850) < schedule(Decay::Linear).lr(850));
        // WSD holds the peak until the last 20% (220 steps), then falls linearly.
        let wsd = schedule(Decay::Wsd);
        assert!(close(wsd.lr(880), 1e-3));
        assert!(close(wsd.lr(990), 5.5e-4));
    }

    #[test]
    fn no_warmup_starts_at_the_peak() {
        let s = Schedule { warmup: 0, ..schedule(Decay::Cosine) };
        assert!(close(s.lr(0), 1e-3));
        assert!(s.lr(1) < 1e-3 && s.lr(1) > 0.99e-3);
    }
}
