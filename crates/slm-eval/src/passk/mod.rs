//! pass@k for code generation (Chen et al., 2021): every sample runs with its problem's tests in a
//! sandbox; pass@k per problem is the unbiased estimator 1 - C(n-c, k) / C(n, k), averaged over problems.
//!
//! Problems are HumanEval-format (`task_id`, `prompt`, `test`, `entry_point`: the program is prompt +
//! completion + test + `check(entry_point)`) or MBPP-format (`task_id`, `test_list`, optional
//! `test_setup_code`: the program is completion + setup + the asserts). Samples are JSON Lines with
//! `task_id` and `completion`.

pub mod sandbox;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use crate::error::{EvalError, Result};
use crate::segments::read_jsonl;
use sandbox::{Outcome, Sandbox};

/// One problem: how to turn a completion into a test program.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The task id, as text.
    pub task_id: String,
    /// Code before the completion (HumanEval's prompt; empty for MBPP).
    pub prefix: String,
    /// Code after the completion (the tests).
    pub suffix: String,
}

impl Problem {
    /// The program that passes when the completion is correct.
    pub fn program(&self, completion: &str) -> String {
        format!("{}{}\n\n{}\n", self.prefix, completion, self.suffix)
    }
}

/// A task id as text: strings as they are, numbers (MBPP) printed; `None` for anything else.
pub fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads HumanEval- or MBPP-format problems.
///
/// # Errors
/// Unreadable file or a record in neither format.
pub fn read_problems(path: &Path) -> Result<BTreeMap<String, Problem>> {
    let mut out = BTreeMap::new();
    for (i, rec) in read_jsonl(path)?.iter().enumerate() {
        let bad = |what: &str| EvalError::malformed(path, i + 1, what.to_owned());
        let task_id = rec.get("task_id").and_then(id_of).ok_or_else(|| bad("the record has no `task_id`"))?;
        let s = |k: &str| rec.get(k).and_then(Value::as_str);
        let problem = if let (Some(prompt), Some(test), Some(entry)) = (s("prompt"), s("test"), s("entry_point")) {
            Problem { task_id: task_id.clone(), prefix: prompt.to_owned(), suffix: format!("{test}\n\ncheck({entry})") }
        } else if let Some(tests) = rec.get("test_list").and_then(Value::as_array) {
            let mut suffix = s("test_setup_code").unwrap_or("").to_owned();
            for t in tests {
                suffix.push('\n');
                suffix.push_str(t.as_str().ok_or_else(|| bad("`test_list` must hold strings"))?);
            }
            Problem { task_id: task_id.clone(), prefix: String::new(), suffix }
        } else {
            return Err(bad("not a HumanEval problem (prompt, test, entry_point) nor an MBPP one (test_list)"));
        };
        out.insert(task_id, problem);
    }
    Ok(out)
}

/// One sample to run.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Its problem.
    pub task_id: String,
    /// The generated code.
    pub completion: String,
}

/// Reads samples (`task_id`, `completion`) and checks that every task id is a known problem.
///
/// # Errors
/// Unreadable file, a record without the fields, or an unknown task id.
pub fn read_samples(path: &Path, problems: &BTreeMap<String, Problem>) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    for (i, rec) in read_jsonl(path)?.iter().enumerate() {
        let task_id = rec
            .get("task_id")
            .and_then(id_of)
            .ok_or_else(|| EvalError::malformed(path, i + 1, "the record has no `task_id`"))?;
        if !problems.contains_key(&task_id) {
            return Err(EvalError::malformed(path, i + 1, format!("task_id `{task_id}` is not in the problems file")));
        }
        let completion = rec
            .get("completion")
            .and_then(Value::as_str)
            .ok_or_else(|| EvalError::malformed(path, i + 1, "the record has no string field `completion`"))?;
        out.push(Sample { task_id, completion: completion.to_owned() });
    }
    Ok(out)
}

/// The unbiased pass@k of one problem with `n` samples of which `c` pass: 1 - C(n-c, k)/C(n, k),
/// computed as 1 - prod_{i=n-c+1..n} (1 - k/i) for numerical stability.
///
/// # Panics
/// If `k > n` or `c > n`.
pub fn pass_at_k(n: u64, c: u64, k: u64) -> f64 {
    assert!(k <= n && c <= n, "pass@k needs k <= n and c <= n");
    if n - c < k {
        return 1.0;
    }
    1.0 - ((n - c + 1)..=n).map(|i| 1.0 - k as f64 / i as f64).product::<f64>()
}

/// The result of one sample.
#[derive(Debug, Clone)]
pub struct SampleResult {
    /// Its problem.
    pub task_id: String,
    /// What happened.
    pub outcome: Outcome,
}

/// Runs every sample, up to `workers` at a time (each with its own [`sandbox::Worker`]); `on_done` is
/// called after each.
///
/// # Errors
/// The sandbox failed to start a run.
pub fn run_samples(
    sandbox: &Sandbox,
    problems: &BTreeMap<String, Problem>,
    samples: &[Sample],
    workers: usize,
    on_done: &(dyn Fn(&SampleResult) + Sync),
) -> Result<Vec<SampleResult>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<SampleResult>>> = Mutex::new(vec![None; samples.len()]);
    let failure: Mutex<Option<sandbox::SandboxError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for slot in 0..workers.max(1).min(samples.len()) {
            let (next, results, failure) = (&next, &results, &failure);
            scope.spawn(move || {
                let worker = match sandbox.worker(slot) {
                    Ok(w) => w,
                    Err(e) => {
                        *failure.lock().expect("lock") = Some(e);
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= samples.len() || failure.lock().expect("lock").is_some() {
                        return;
                    }
                    let sample = &samples[i];
                    let program = problems[&sample.task_id].program(&sample.completion);
                    match sandbox.run(&worker, &program) {
                        Ok(outcome) => {
                            let r = SampleResult { task_id: sample.task_id.clone(), outcome };
                            on_done(&r);
                            results.lock().expect("lock")[i] = Some(r);
                        }
                        Err(e) => *failure.lock().expect("lock") = Some(e),
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("lock") {
        return Err(EvalError::Refused(format!("the sandbox could not run a sample: {e}")));
    }
    Ok(results.into_inner().expect("lock").into_iter().map(|r| r.expect("every sample ran")).collect())
}

/// pass@k results: the mean over problems for each k, and (samples, passed) per problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// k -> mean pass@k.
    pub scores: BTreeMap<u64, f64>,
    /// task id -> (samples n, passed c).
    pub per_problem: BTreeMap<String, (u64, u64)>,
}

/// pass@k for each k over the problems that have samples.
///
/// # Errors
/// A k of 0, or larger than some problem's number of samples.
pub fn summarize(results: &[SampleResult], ks: &[u64]) -> Result<Summary> {
    let mut per_problem: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for r in results {
        let e = per_problem.entry(r.task_id.clone()).or_default();
        e.0 += 1;
        e.1 += u64::from(r.outcome == Outcome::Passed);
    }
    let mut scores = BTreeMap::new();
    for &k in ks {
        if k == 0 {
            return Err(EvalError::Usage("--k values must be at least 1".into()));
        }
        if let Some((id, (n, _))) = per_problem.iter().find(|(_, (n, _))| *n < k) {
            return Err(EvalError::Usage(format!(
                "pass@{k} needs at least {k} samples per problem, but `{id}` has {n}"
            )));
        }
        let mean =
            per_problem.values().map(|&(n, c)| pass_at_k(n, c, k)).sum::<f64>() / per_problem.len().max(1) as f64;
        scores.insert(k, mean);
    }
    Ok(Summary { scores, per_problem })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimator_matches_the_closed_form() {
        // 1 - C(n-c,k)/C(n,k) with n=10, c=3, k=2: 1 - C(7,2)/C(10,2) = 1 - 21/45
        assert!((pass_at_k(10, 3, 2) - (1.0 - 21.0 / 45.0)).abs() < 1e-12);
        assert_eq!(pass_at_k(5, 0, 1), 0.0);
        assert_eq!(pass_at_k(5, 5, 5), 1.0);
        assert!((pass_at_k(5, 2, 1) - 0.4).abs() < 1e-12);
        assert_eq!(pass_at_k(4, 2, 3), 1.0); // n - c < k
    }
}
