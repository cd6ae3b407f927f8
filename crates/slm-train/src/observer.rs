//! What a run reports while it trains: a line per step and per evaluation, and notes. The CLI draws them
//! as a progress view; library users and tests pass [`Silent`].

/// A training line.
#[derive(Debug, Clone)]
pub struct StepLog {
    /// Step just done.
    pub step: u64,
    /// Steps of the run.
    pub total: u64,
    /// Epochs done.
    pub epoch: f64,
    /// Mean loss of the step.
    pub loss: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Input tokens per second of this step.
    pub tokens_per_s: f64,
}

/// An evaluation line.
#[derive(Debug, Clone)]
pub struct EvalLog {
    /// Step evaluated at.
    pub step: u64,
    /// Validation loss.
    pub loss: f64,
    /// Accuracy (classification).
    pub accuracy: Option<f64>,
    /// ROUGE-L F-measure of generations on validation examples (`eval.generate`).
    pub rouge_l: Option<f64>,
    /// Whether this is the best so far by `eval.metric`.
    pub best: bool,
}

/// Receives progress (the CLI draws a progress bar or prints plain lines).
pub trait Observer {
    /// The run starts at `first` of `total` steps.
    fn start(&mut self, first: u64, total: u64);
    /// A step finished.
    fn step(&mut self, log: &StepLog);
    /// An evaluation finished.
    fn eval(&mut self, log: &EvalLog);
    /// Something worth a line.
    fn note(&mut self, message: &str);
}

/// An observer that ignores everything (library use and tests).
pub struct Silent;

impl Observer for Silent {
    fn start(&mut self, _: u64, _: u64) {}
    fn step(&mut self, _: &StepLog) {}
    fn eval(&mut self, _: &EvalLog) {}
    fn note(&mut self, _: &str) {}
}
