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

/// The short run of the disk-full trials: 8 steps, a checkpoint every 2.
const SHORT: [&str; 6] = ["--set", "train.max_steps=8", "--set", "checkpoint.every=2", "--set", "eval.every=4"];

/// `slm train --resume run` with a file-size limit of `max_file_bytes` (None: no limit).
fn resume_limited(run: &Path, max_file_bytes: Option<u64>) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slm"));
    cmd.args(["train", "--resume", run.to_str().unwrap()]).current_dir(root());
    if let Some(limit) = max_file_bytes {
        // SAFETY: setrlimit between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit { rlim_cur: limit, rlim_max: limit };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        };
    }
    cmd.output().unwrap()
}

/// Asserts the run stopped at its step-6 checkpoint with one sentence, and that the step-4 checkpoint is
/// still the newest, whole, with no temporary directory left.
fn assert_stopped_with_step_4_intact(o: &std::process::Output, run: &Path, cause: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "the run went on without its checkpoint: {err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: ") && last.contains(cause) && last.contains("checkpoints"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let names = ls(&run.join("checkpoints"));
    assert_eq!(names.last().map(String::as_str), Some("step-00000004"), "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("step-")), "a temporary checkpoint was left: {names:?}");
    let state = std::fs::read_to_string(run.join("checkpoints/step-00000004/state.json")).unwrap();
    assert!(state.contains("\"step\": 4"), "{state}");
}

/// The final weights of `run` after resuming it without limits, against those of the straight run.
fn assert_finishes_like(run: &Path, straight: &Path) {
    let o = resume_limited(run, None);
    assert!(o.status.success(), "{}", stderr(&o));
    let weights = |dir: &Path| std::fs::read(dir.join("final/model.safetensors")).unwrap();
    assert!(weights(straight) == weights(run), "the final weights differ after the failed checkpoint");
}

#[test]
fn a_full_disk_during_a_checkpoint_keeps_the_previous_one_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let straight = tmp.path().join("straight");
    let o = slm(&[&["train", "recipes/tiny-ci.toml", "--out", straight.to_str().unwrap()][..], &SHORT].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let stopped = |name: &str| {
        let run = tmp.path().join(name);
        let args = ["train", "recipes/tiny-ci.toml", "--out", run.to_str().unwrap(), "--stop-after", "4"];
        let o = slm(&[&args[..], &SHORT].concat());
        assert!(o.status.success(), "{}", stderr(&o));
        run
    };

    // A file-size limit below the size of the model's file: the step-6 checkpoint cannot be written.
    let run = stopped("fsize");
    let model_bytes = std::fs::metadata(run.join("checkpoints/step-00000004/model.safetensors")).unwrap().len();
    let o = resume_limited(&run, Some(model_bytes / 2));
    assert_stopped_with_step_4_intact(&o, &run, "File too large");
    assert_finishes_like(&run, &straight);

    // A file system that fills up: a tmpfs with room for the run and half a checkpoint more.
    if !std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0) {
        eprintln!("not root: the tmpfs trial needs root to mount; the file-size trial ran");
        return;
    }
    let mount = tmp.path().join("small");
    std::fs::create_dir(&mount).unwrap();
    let tmpfs = |options: String| {
        let status =
            Command::new("mount").args(["-t", "tmpfs", "-o", &options, "tmpfs", mount.to_str().unwrap()]).status();
        assert!(status.unwrap().success(), "mount -o {options} failed");
    };
    tmpfs("size=64m".into());
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.clone());
    let run = stopped("small/run");
    // Shrunk to what the run holds and half a checkpoint more.
    tmpfs(format!("remount,size={}", walk_bytes(&run) + model_bytes / 2));
    let o = resume_limited(&run, None);
    assert_stopped_with_step_4_intact(&o, &run, "No space left on device");
    tmpfs("remount,size=64m".into());
    assert_finishes_like(&run, &straight);
}

/// Bytes of the files under `dir`.
fn walk_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let m = e.metadata().unwrap();
            if m.is_dir() { walk_bytes(&e.path()) } else { m.len() }
        })
        .sum()
}
