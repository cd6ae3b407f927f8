//! Runs untrusted Python in a sandbox, one process tree per sample.
//!
//! Every run gets a fresh temporary working directory (deleted afterwards), a cleared environment, its own
//! session and process group (killed whole on timeout), and resource limits: CPU seconds, address space
//! (memory), file size, open files, no core dumps. On Linux it also gets:
//! - a new network namespace: no interface but a loopback that is down, so no connection leaves;
//! - a new mount namespace in which every mount is remounted read-only except the working directory, so
//!   nothing outside that directory can be written;
//! - as root, a dedicated unprivileged user id per worker of this process ([`sandbox_uid`]), so that the
//!   process limit (`RLIMIT_NPROC`) holds and a fork bomb stops at `max_processes`; every process left
//!   with that uid is killed after the run. Without root, an unprivileged user namespace provides the
//!   two namespaces.
//!
//! Where the namespaces cannot be created the caller must opt in to running with limits only.
//!
//! All strings the child needs are prepared before `fork`; between `fork` and `exec` the child makes
//! only system calls (async-signal-safe), as `pre_exec` requires.

use std::ffi::CString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Limits of one run.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock limit.
    pub timeout: Duration,
    /// Address-space limit in bytes.
    pub memory_bytes: u64,
    /// Largest file the code may write, in bytes.
    pub max_file_bytes: u64,
    /// Most processes the code may run at once (enforced when slm runs as root).
    pub max_processes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { timeout: Duration::from_secs(10), memory_bytes: 2 << 30, max_file_bytes: 64 << 20, max_processes: 64 }
    }
}

/// How strongly runs are isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Network and mount namespaces (and a dedicated uid as root) plus limits.
    Namespaces,
    /// Resource limits, own process group, temporary directory and cleared environment only.
    LimitsOnly,
}

/// The outcome of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Exit status 0.
    Passed,
    /// Non-zero exit or killed by a signal; the tail of stderr.
    Failed(String),
    /// Still running at the wall-clock limit; killed.
    TimedOut,
}

/// A configured sandbox.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The Python interpreter.
    pub python: PathBuf,
    /// Limits of each run.
    pub limits: Limits,
    /// Isolation level.
    pub isolation: Isolation,
}

/// Everything the child needs, allocated before fork.
struct ChildPlan {
    workdir: CString,
    mounts: Vec<CString>,
    root: bool,
    uid: libc::uid_t,
    isolate: bool,
    limits: Limits,
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("paths have no NUL byte")
}

/// Mount points from /proc/self/mountinfo (field 5), unescaped.
fn mount_points() -> Vec<CString> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| {
            let unescaped =
                m.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\");
            CString::new(unescaped).expect("mount points have no NUL byte")
        })
        .collect()
}

fn check(rc: libc::c_int) -> std::io::Result<()> {
    if rc == -1 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let lim = libc::rlimit { rlim_cur: value, rlim_max: value };
    // SAFETY: setrlimit reads a valid rlimit struct.
    check(unsafe { libc::setrlimit(resource, &lim) })
}

/// Runs in the child between fork and exec: system calls only.
fn enter(plan: &ChildPlan) -> std::io::Result<()> {
    // SAFETY: all calls below are async-signal-safe system calls on pointers that outlive them.
    unsafe {
        check(libc::setsid())?;
        if plan.isolate {
            let mut flags = libc::CLONE_NEWNET | libc::CLONE_NEWNS;
            if !plan.root {
                flags |= libc::CLONE_NEWUSER;
            }
            check(libc::unshare(flags))?;
            let root = c"/";
            check(libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::mount(
                plan.workdir.as_ptr(),
                plan.workdir.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ))?;
            // MS_BIND makes each remount change only this namespace's view, never the host's.
            let ro = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY;
            check(libc::mount(std::ptr::null(), root.as_ptr(), std::ptr::null(), ro, std::ptr::null()))?;
            for m in &plan.mounts {
                // Some pseudo file systems refuse; they are not writable by the sandbox user anyway.
                libc::mount(std::ptr::null(), m.as_ptr(), std::ptr::null(), ro | libc::MS_NOSUID, std::ptr::null());
            }
        }
        check(libc::chdir(plan.workdir.as_ptr()))?;
        let cpu = plan.limits.timeout.as_secs() + 2;
        set_limit(libc::RLIMIT_CPU, cpu)?;
        set_limit(libc::RLIMIT_AS, plan.limits.memory_bytes)?;
        set_limit(libc::RLIMIT_FSIZE, plan.limits.max_file_bytes)?;
        set_limit(libc::RLIMIT_NOFILE, 256)?;
        set_limit(libc::RLIMIT_CORE, 0)?;
        if plan.root {
            set_limit(libc::RLIMIT_NPROC, plan.limits.max_processes)?;
            check(libc::setgroups(0, std::ptr::null()))?;
            check(libc::setgid(plan.uid))?;
            check(libc::setuid(plan.uid))?;
        }
    }
    Ok(())
}

/// First uid of the range sandbox users are taken from.
pub const UID_BASE: u32 = 1_000_000;

/// The uid of worker `slot` (< 64) of this process: unique among live processes, since pids are, so
/// concurrent `slm` runs never share (or kill) each other's sandbox users.
pub fn sandbox_uid(slot: usize) -> libc::uid_t {
    UID_BASE + std::process::id() * 64 + (slot % 64) as u32
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Kills every live process owned by `uid` (as root, the sandbox uid owns nothing else), sweeping
/// until none is left so that processes forked during a sweep die too. Zombies are dead already and
/// are left for their reaper.
fn kill_uid(uid: libc::uid_t) {
    let uid = uid.to_string();
    for _ in 0..100 {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return;
        };
        let mut found = false;
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<libc::pid_t>().ok()) else {
                continue;
            };
            let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
            let field = |name: &str| {
                status.lines().find_map(|l| l.strip_prefix(name)).and_then(|l| l.split_whitespace().next())
            };
            if field("Uid:") == Some(uid.as_str()) && field("State:") != Some("Z") {
                found = true;
                // SAFETY: kill with a valid signal number.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if !found {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

impl Sandbox {
    /// Whether namespaces can be created here: runs `python -c pass` fully isolated.
    pub fn namespaces_available(python: &Path) -> bool {
        let probe = Sandbox { python: python.to_owned(), limits: Limits::default(), isolation: Isolation::Namespaces };
        matches!(probe.run("pass", 0), Ok(Outcome::Passed))
    }

    /// Runs `program` with the interpreter in a fresh directory as worker `slot`.
    ///
    /// # Errors
    /// The temporary directory cannot be made or the process cannot start.
    pub fn run(&self, program: &str, slot: usize) -> std::io::Result<Outcome> {
        let dir = tempfile::Builder::new().prefix("slm-sandbox-").tempdir()?;
        let root = is_root();
        let uid = sandbox_uid(slot);
        std::fs::write(dir.path().join("program.py"), program)?;
        if root {
            for p in [dir.path().to_owned(), dir.path().join("program.py")] {
                std::os::unix::fs::chown(&p, Some(uid), Some(uid))?;
            }
        }
        let stderr_path = dir.path().join(".stderr");
        let stderr = std::fs::File::create(&stderr_path)?;
        let plan = ChildPlan {
            workdir: cstr(dir.path()),
            mounts: if self.isolation == Isolation::Namespaces { mount_points() } else { Vec::new() },
            root,
            uid,
            isolate: self.isolation == Isolation::Namespaces,
            limits: self.limits.clone(),
        };
        let mut cmd = Command::new(&self.python);
        cmd.args(["-I", "-B", "program.py"])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", dir.path())
            .env("LANG", "C.UTF-8")
            .env("PYTHONHASHSEED", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        // SAFETY: `enter` makes only async-signal-safe system calls on memory prepared before fork.
        unsafe { cmd.pre_exec(move || enter(&plan)) };
        let mut child = cmd.spawn()?;
        let pgid = child.id() as libc::pid_t;
        let deadline = Instant::now() + self.limits.timeout;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        // The whole group goes, finished or not: no sample leaves processes behind.
        // SAFETY: kill with a negative pid signals that process group.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        if status.is_none() {
            let _ = child.wait();
        }
        if root {
            kill_uid(uid);
        }
        let outcome = match status {
            None => Outcome::TimedOut,
            Some(s) if s.success() => Outcome::Passed,
            Some(s) => {
                let mut err = String::new();
                let _ = std::fs::File::open(&stderr_path).and_then(|f| f.take(64 << 10).read_to_string(&mut err));
                let tail: String =
                    err.lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" | ");
                Outcome::Failed(if tail.is_empty() { format!("exit status {s}") } else { tail })
            }
        };
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python() -> PathBuf {
        let system = PathBuf::from("/usr/bin/python3");
        if system.exists() { system } else { PathBuf::from("python3") }
    }

    #[test]
    fn limits_only_mode_still_enforces_time_and_memory() {
        let sandbox = Sandbox {
            python: python(),
            limits: Limits { timeout: Duration::from_millis(1500), memory_bytes: 512 << 20, ..Limits::default() },
            isolation: Isolation::LimitsOnly,
        };
        assert_eq!(sandbox.run("assert 1 + 1 == 2\n", 63).unwrap(), Outcome::Passed);
        assert_eq!(sandbox.run("while True:\n    pass\n", 63).unwrap(), Outcome::TimedOut);
        match sandbox.run("x = bytearray(4 * 1024 ** 3)\n", 63).unwrap() {
            Outcome::Failed(message) => assert!(message.contains("MemoryError"), "{message}"),
            other => panic!("a 4 GB allocation under a 512 MB limit gave {other:?}"),
        }
        match sandbox.run("raise SystemExit(3)\n", 63).unwrap() {
            Outcome::Failed(message) => assert!(message.contains("exit status"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}
