//! `--baseline`, `--tolerance`, `--save-baseline`: the CI regression gate.

use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;
use slm_data::records::AtomicFile;
use slm_eval::EvalError;
use slm_eval::gate::{Status, Tolerance, compare};

use super::Args;
use crate::CliError;

/// Writes bytes atomically; refuses to overwrite without `force`.
pub fn write_atomic(path: &Path, bytes: &[u8], force: bool) -> Result<(), CliError> {
    let mut f = AtomicFile::create(path, force)?;
    f.write_all(bytes)?;
    f.commit()?;
    Ok(())
}

pub fn save(path: &Path, report: &Value, force: bool) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(report).expect("JSON serializes") + "\n";
    write_atomic(path, text.as_bytes(), force)?;
    eprintln!("baseline saved to {}", path.display());
    Ok(())
}

pub fn check(path: &Path, report: &Value, args: &Args) -> Result<ExitCode, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    let baseline: Value = serde_json::from_str(&text)
        .map_err(|e| EvalError::malformed(path, e.line(), format!("the baseline is not JSON: {e}")))?;
    if baseline.get("metric") != report.get("metric") {
        return Err(CliError::Usage(format!(
            "{}: the baseline is for metric {}, not {}",
            path.display(),
            baseline.get("metric").unwrap_or(&Value::Null),
            report["metric"]
        )));
    }
    let tol = match (args.tolerance, args.tolerance_pct) {
        (_, Some(p)) => Tolerance::Percent(p),
        (t, None) => Tolerance::Absolute(t.unwrap_or(0.0)),
    };
    let rows = compare(&baseline, report, tol);
    if rows.is_empty() {
        return Err(CliError::Usage(format!("{}: the baseline holds no score to compare", path.display())));
    }
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(6).max(6);
    let cell = |v: Option<f64>, sign: bool| match v {
        Some(x) if sign => format!("{x:>+12.4}"),
        Some(x) => format!("{x:>12.4}"),
        None => format!("{:>12}", "-"),
    };
    eprintln!("{:width$} {:>12} {:>12} {:>12}", "metric", "baseline", "now", "delta");
    for r in &rows {
        let flag = match r.status {
            Status::Passed => "",
            Status::Regressed => "  REGRESSED",
            Status::Missing => "  MISSING",
            Status::NotFinite => "  NOT FINITE",
        };
        let (b, n, d) = (cell(r.baseline, false), cell(r.now, false), cell(r.delta(), true));
        eprintln!("{:width$} {b} {n} {d}{flag}", r.name);
    }
    let failed: Vec<String> = rows.iter().filter_map(|r| r.problem()).collect();
    match failed.as_slice() {
        [] => {
            eprintln!("gate passed");
            Ok(ExitCode::SUCCESS)
        }
        [one] => {
            eprintln!("gate failed: {one}");
            Ok(ExitCode::from(1))
        }
        [first, rest @ ..] => {
            eprintln!("gate failed: {first}, and {} more score(s) failed", rest.len());
            Ok(ExitCode::from(1))
        }
    }
}
