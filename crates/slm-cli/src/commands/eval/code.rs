//! pass@k in the sandbox, and cyclomatic complexity of generated code.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use slm_eval::EvalError;
use slm_eval::passk::sandbox::{Isolation, Limits, Outcome, Sandbox};
use slm_eval::passk::{self, read_problems, read_samples};
use slm_eval::segments::read_jsonl;

use super::{Args, Report, need};
use crate::CliError;
use crate::progress::Bar;

fn python(args: &Args) -> PathBuf {
    args.python.clone().unwrap_or_else(slm_eval::passk::sandbox::default_python)
}

pub fn pass_at_k(args: &Args) -> Result<Report, CliError> {
    if !args.allow_code_execution {
        return Err(EvalError::Refused(
            "pass@k runs untrusted generated code; pass --allow-code-execution to run it in the sandbox".into(),
        )
        .into());
    }
    let ks = args
        .k
        .split(',')
        .map(|k| {
            k.trim()
                .parse::<u64>()
                .map_err(|_| CliError::Usage(format!("--k takes comma-separated integers, got `{}`", args.k)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if args.timeout.is_nan() || args.timeout <= 0.0 {
        return Err(CliError::Usage(format!("--timeout must be positive, got {}", args.timeout)));
    }
    let problems = read_problems(need(&args.problems, "--problems FILE", "pass@k")?)?;
    let samples = read_samples(need(&args.samples, "--samples FILE", "pass@k")?, &problems)?;
    let limits = Limits {
        timeout: Duration::from_secs_f64(args.timeout),
        memory_bytes: args.memory_mb << 20,
        ..Limits::default()
    };
    let python = python(args);
    let unusable =
        |e: std::io::Error| EvalError::Refused(format!("cannot run the interpreter {}: {e}", python.display()));
    let mut sandbox = Sandbox::new(&python, limits.clone(), Isolation::Full).map_err(unusable)?;
    let layers = match sandbox.check() {
        Ok(worker) => sandbox.layers(&worker),
        Err(e) if args.allow_unsandboxed => {
            eprintln!("warning: {e}; running with resource limits and the seccomp filter only (--allow-unsandboxed)");
            sandbox = Sandbox::new(&python, limits, Isolation::LimitsOnly).map_err(unusable)?;
            let worker = sandbox.check().map_err(|e| EvalError::Refused(format!("cannot run pass@k here: {e}")))?;
            sandbox.layers(&worker)
        }
        Err(e) => {
            return Err(EvalError::Refused(format!(
                "cannot sandbox pass@k here: {e}; pass --allow-unsandboxed to run with resource limits only"
            ))
            .into());
        }
    };
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let bar = Bar::counting(samples.len() as u64, "samples");
    let results = passk::run_samples(&sandbox, &problems, &samples, jobs, &|_| bar.inc(1))?;
    bar.finish();
    let passk::Summary { scores, per_problem } = passk::summarize(&results, &ks)?;
    if let Some(path) = &args.details {
        let mut by_task: BTreeMap<&str, Vec<serde_json::Value>> = BTreeMap::new();
        for r in &results {
            let (status, message) = match &r.outcome {
                Outcome::Passed => ("passed", String::new()),
                Outcome::Failed(m) => ("failed", m.clone()),
                Outcome::TimedOut => ("timed out", String::new()),
            };
            by_task.entry(&r.task_id).or_default().push(json!({"status": status, "message": message}));
        }
        let mut text = String::new();
        for (task, runs) in by_task {
            let (n, c) = per_problem[task];
            text += &json!({"task_id": task, "n": n, "passed": c, "samples": runs}).to_string();
            text.push('\n');
        }
        super::gate::write_atomic(path, text.as_bytes(), args.force)?;
    }
    let mut json = json!({"metric": "pass@k", "problems": per_problem.len(), "samples": results.len(),
        "sandbox": if sandbox.isolation() == Isolation::Full { "namespaces" } else { "limits-only" },
        "sandbox_layers": layers});
    let mut human = String::new();
    for (k, v) in &scores {
        json[format!("pass@{k}")] = json!(v);
        human += &format!("pass@{k} = {v:.4}\n");
    }
    human += &format!("{} problems, {} samples\n", per_problem.len(), results.len());
    Ok(Report { json, human })
}

pub fn complexity(args: &Args) -> Result<Report, CliError> {
    let samples_path = need(&args.samples, "--samples FILE", "complexity")?;
    let problems = match &args.problems {
        Some(p) => Some(read_problems(p)?),
        None => None,
    };
    let mut values = Vec::new();
    let mut unparsable = 0usize;
    for (i, rec) in read_jsonl(samples_path)?.iter().enumerate() {
        let completion = rec
            .get("completion")
            .and_then(|c| c.as_str())
            .ok_or_else(|| EvalError::malformed(samples_path, i + 1, "the record has no string field `completion`"))?;
        let code = match (&problems, rec.get("task_id").and_then(passk::id_of)) {
            (Some(p), Some(id)) => {
                let problem = p.get(&id).ok_or_else(|| {
                    EvalError::malformed(samples_path, i + 1, format!("task_id `{id}` is not in the problems file"))
                })?;
                format!("{}{completion}", problem.prefix)
            }
            _ => completion.to_owned(),
        };
        match slm_eval::complexity::cyclomatic(&code) {
            Ok(c) => values.push(c),
            Err(_) => unparsable += 1,
        }
    }
    let mean = values.iter().sum::<usize>() as f64 / values.len().max(1) as f64;
    let max = values.iter().copied().max().unwrap_or(0);
    let json =
        json!({"metric": "complexity", "mean": mean, "max": max, "parsed": values.len(), "unparsable": unparsable});
    let human = format!(
        "cyclomatic complexity: mean {mean:.2}, max {max} ({} parsed, {unparsable} unparsable)\n",
        values.len()
    );
    Ok(Report { json, human })
}
