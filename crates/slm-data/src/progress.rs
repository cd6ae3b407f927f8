//! How long operations report progress and warnings without printing: the CLI renders them.

/// Receives progress and warnings from a long operation.
pub trait Progress: Sync {
    /// A new stage begins; `total` is the amount of work when known (records, bytes, ...).
    fn stage(&self, _name: &str, _total: Option<u64>) {}
    /// `n` more units of the current stage are done.
    fn advance(&self, _n: u64) {}
    /// Something the user should know that does not stop the operation.
    fn warn(&self, _message: &str) {}
}

/// Discards all reports.
pub struct NoProgress;

impl Progress for NoProgress {}
