//! Crash safety of training: a run killed with SIGKILL at 20 moments (during steps, evaluations and
//! checkpoint writes) and resumed after each ends with the same weights, byte for byte, as a run that was
//! never interrupted.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

const SETTINGS: [&str; 8] = [
    "--set",
    "train.max_steps=40",
    "--set",
    "checkpoint.every=2",
    "--set",
    "eval.every=10",
    "--set",
    "checkpoint.keep=2",
];

/// Starts `slm train` (fresh, or `--resume` when the run has a checkpoint), kills it with SIGKILL after
/// `after`, and says whether it had finished by itself before that.
fn run_and_kill(run: &Path, after: Duration) -> bool {
    let r = run.to_str().unwrap();
    let resumable = run
        .join("checkpoints")
        .read_dir()
        .is_ok_and(|mut d| d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("step-"))));
    let mut args = if resumable {
        vec!["train", "--resume", r]
    } else {
        vec!["train", "recipes/tiny-ci.toml", "--out", r, "--force"]
    };
    if !resumable {
        args.extend(SETTINGS);
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_slm"))
        .args(&args)
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < after {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "a run that was not killed failed: {status:?}");
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    false
}

#[test]
fn kill_9_at_twenty_moments_then_resume_gives_the_same_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let straight = tmp.path().join("straight");
    let o = slm(&[&["train", "recipes/tiny-ci.toml", "--out", straight.to_str().unwrap()][..], &SETTINGS].concat());
    assert!(o.status.success(), "{}", stderr(&o));

    let run = tmp.path().join("killed");
    // Deterministic "random" moments: 80 to 600 ms after each start.
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut kills = 0;
    while kills < 20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let after = Duration::from_millis(80 + seed % 520);
        if run_and_kill(&run, after) {
            break;
        }
        kills += 1;
    }
    // Then let it finish.
    while !run_and_kill(&run, Duration::from_secs(600)) {}
    assert!(kills >= 10, "the run finished after only {kills} kills; it should take longer than that");
    let weights = |dir: &Path| std::fs::read(dir.join("final/model.safetensors")).unwrap();
    assert!(weights(&straight) == weights(&run), "the final weights differ after {kills} kills");
    // No half-written checkpoint is left behind.
    let leftovers: Vec<String> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("step-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
