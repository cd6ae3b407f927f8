//! Runs untrusted Python in a sandbox, one process tree per sample.
//!
//! Layers, each proven by a hostile sample in `tests/cli/eval_sandbox.rs` (run as root and as an
//! unprivileged user):
//! - new user, PID, mount, network and IPC namespaces ([`enter`]): the sample is PID 1 of its own PID
//!   namespace, so everything it forks dies with it; no network interface is up; it sees no process, IPC
//!   object or abstract socket of the host;
//! - its own file system ([`layout`]): a read-only view of the system's program directories and the
//!   interpreter, a fresh `/proc`, and one size-capped tmpfs at `/tmp` as the only writable place;
//! - a seccomp filter ([`seccomp`]) that refuses ptrace, mount, bpf, keyrings, new namespaces, raw sockets…;
//! - resource limits: CPU seconds, address space, file size, open files, processes, no core dumps;
//! - as root, a uid of the worker's own ([`uid`]) and, where the system allows, a cgroup per worker that
//!   caps the memory and processes of the whole sample ([`cgroup`]).
//!
//! The parent never opens anything the sample can touch: the program goes in through the child's memory
//! and its error output comes back through a pipe the parent owns, read without blocking and capped.
//!
//! All the child needs is prepared before `fork`; between `fork` and `exec` the child makes only system
//! calls (async-signal-safe), as `pre_exec` requires.

pub mod cgroup;
mod enter;
pub mod layout;
pub mod seccomp;
pub mod uid;

use std::ffi::CString;
use std::io::{self, Read};
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use enter::Layer;
use enter::Plan;
use layout::{Layout, cstr};
use seccomp::Filter;

/// Limits of one run.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock limit.
    pub timeout: Duration,
    /// Address-space limit per process in bytes (and, with a cgroup, the memory of the whole sample).
    pub memory_bytes: u64,
    /// Largest file the code may write, in bytes.
    pub max_file_bytes: u64,
    /// Most processes the code may run at once.
    pub max_processes: u64,
    /// Size of the sample's writable tmpfs, in bytes.
    pub disk_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(10),
            memory_bytes: 2 << 30,
            max_file_bytes: 64 << 20,
            max_processes: 64,
            disk_bytes: 64 << 20,
        }
    }
}

/// How strongly runs are isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Every layer: namespaces, own file system, seccomp, limits (and uid and cgroup as root).
    Full,
    /// Resource limits, seccomp, own session, temporary directory and cleared environment only.
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

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A layer could not be built.
    #[error("{} could not be set up: {source}", layer.describe())]
    Layer {
        /// The layer.
        layer: Layer,
        /// The system's error.
        source: io::Error,
    },
    /// Anything else (temporary directory, pipes).
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// A configured sandbox.
#[derive(Debug, Clone)]
pub struct Sandbox {
    python: PathBuf,
    limits: Limits,
    isolation: Isolation,
    layout: Layout,
    filter: Filter,
    root: bool,
}

/// One worker: as root, its own uid and (where possible) cgroup, held while it lives.
#[derive(Debug)]
pub struct Worker {
    uid: Option<uid::UidLease>,
    cgroup: Option<cgroup::Cgroup>,
}

impl Worker {
    /// Whether the worker's samples run in a cgroup of their own.
    pub fn has_cgroup(&self) -> bool {
        self.cgroup.is_some()
    }
}

/// The most error output kept from one sample.
const STDERR_CAP: usize = 64 << 10;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The interpreter used when none is given: the system's `/usr/bin/python3` where it exists (readable by
/// a sandbox uid, unlike interpreters installed in a home directory), else `python3` on `PATH`.
pub fn default_python() -> PathBuf {
    let system = PathBuf::from("/usr/bin/python3");
    if system.exists() { system } else { PathBuf::from("python3") }
}

/// `name` as an absolute path: as it is if it has a slash, else looked up on `PATH`.
fn absolute(name: &Path) -> io::Result<PathBuf> {
    if name.components().count() > 1 {
        return std::path::absolute(name);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{} is not on PATH", name.display())))
}

impl Sandbox {
    /// A sandbox running `python` (a path, or a name looked up on `PATH`).
    ///
    /// # Errors
    /// The interpreter is not found.
    pub fn new(python: &Path, limits: Limits, isolation: Isolation) -> io::Result<Sandbox> {
        let python = absolute(python)?;
        let layout = Layout::for_interpreter(&python);
        Ok(Sandbox { python, limits, isolation, layout, filter: Filter::new(), root: is_root() })
    }

    /// The isolation level.
    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    /// The layers every run gets, in words.
    pub fn layers(&self, worker: &Worker) -> Vec<&'static str> {
        let mut layers = Vec::new();
        if self.isolation == Isolation::Full {
            layers.extend(["user, PID, mount, network and IPC namespaces", "read-only root with a private tmpfs"]);
        }
        layers.extend(["seccomp filter", "resource limits"]);
        if self.root {
            layers.push("a uid per worker");
        }
        if worker.has_cgroup() {
            layers.push("cgroup memory and process caps");
        }
        layers
    }

    /// Checks that every layer can be built here by running an empty program.
    ///
    /// # Errors
    /// The layer that could not be built, or the interpreter failing.
    pub fn check(&self) -> Result<Worker, SandboxError> {
        let worker = self.worker(0)?;
        match self.run(&worker, "pass\n")? {
            Outcome::Passed => Ok(worker),
            Outcome::Failed(m) => Err(SandboxError::Layer { layer: Layer::Start, source: io::Error::other(m) }),
            Outcome::TimedOut => {
                Err(SandboxError::Layer { layer: Layer::Start, source: io::Error::other("an empty program timed out") })
            }
        }
    }

    /// A worker: as root, it leases a uid and makes its cgroup.
    ///
    /// # Errors
    /// No uid can be leased.
    pub fn worker(&self, index: usize) -> Result<Worker, SandboxError> {
        if !self.root {
            return Ok(Worker { uid: None, cgroup: None });
        }
        let lease = uid::UidLease::acquire().map_err(|source| SandboxError::Layer { layer: Layer::Uid, source })?;
        let name = format!("slm-sandbox-{}-{index}", std::process::id());
        let memory = self.limits.memory_bytes.saturating_add(self.limits.disk_bytes);
        let cgroup = cgroup::Cgroup::create(&name, self.limits.max_processes, memory);
        Ok(Worker { uid: Some(lease), cgroup })
    }

    /// Runs `program` with the interpreter as `worker`.
    ///
    /// # Errors
    /// A layer could not be built, or the temporary directory or pipes could not be made.
    pub fn run(&self, worker: &Worker, program: &str) -> Result<Outcome, SandboxError> {
        let dir = tempfile::Builder::new().prefix("slm-sandbox-").tempdir()?;
        let isolate = self.isolation == Isolation::Full;
        // SAFETY: getuid/getgid have no preconditions.
        let (uid, gid) = match &worker.uid {
            Some(lease) => (lease.uid(), lease.uid()),
            None => unsafe { (libc::getuid(), libc::getgid()) },
        };
        if !isolate {
            std::fs::write(dir.path().join("program.py"), program)?;
            if self.root {
                std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
            }
        }
        let (report_read, report_write) = pipe()?;
        let plan = Plan {
            root: self.root,
            uid,
            id_map: CString::new(format!("{uid} {uid} 1\n")).expect("no NUL"),
            gid_map: CString::new(format!("{gid} {gid} 1\n")).expect("no NUL"),
            new_root: cstr(dir.path()),
            mounts: isolate.then(|| self.layout.plan(dir.path())),
            tmp_options: CString::new(format!("size={},nr_inodes=4096,mode=1777", self.limits.disk_bytes))
                .expect("no NUL"),
            cgroup_procs: worker.cgroup.iter().flat_map(|c| c.procs_files()).map(|p| cstr(&p)).collect(),
            program: program.as_bytes().to_vec(),
            limits: self.limits.clone(),
            filter: self.filter.clone(),
            report: report_write.as_raw_fd(),
        };
        let home = if isolate { PathBuf::from("/tmp") } else { dir.path().to_owned() };
        let mut cmd = Command::new(&self.python);
        cmd.args(["-I", "-B", "program.py"])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &home)
            .env("TMPDIR", &home)
            .env("LANG", "C.UTF-8")
            .env("PYTHONHASHSEED", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: `enter` makes only async-signal-safe system calls on memory prepared before fork.
        unsafe { cmd.pre_exec(move || enter::enter(&plan)) };
        let spawned = cmd.spawn();
        drop(report_write);
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                return Err(read_report(report_read).unwrap_or(SandboxError::Layer { layer: Layer::Start, source: e }));
            }
        };
        let mut stderr = child.stderr.take().expect("stderr is piped");
        set_nonblocking(stderr.as_raw_fd())?;
        let mut tail = Vec::new();
        let pgid = child.id() as libc::pid_t;
        let deadline = Instant::now() + self.limits.timeout;
        let status = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            poll_readable(stderr.as_raw_fd(), left.min(Duration::from_millis(20)));
            read_available(&mut stderr, &mut tail);
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if left.is_zero() {
                break None;
            }
        };
        // The whole session goes, finished or not; in the namespace, the sample's death takes every
        // process it started.
        // SAFETY: kill with a negative pid signals that process group.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        if status.is_none() {
            let _ = child.wait();
        }
        if !isolate && self.root {
            kill_uid(uid);
        }
        // What the sample wrote before it ended; a descendant that still holds the pipe is not waited for.
        poll_readable(stderr.as_raw_fd(), Duration::from_millis(20));
        read_available(&mut stderr, &mut tail);
        Ok(match status {
            None => Outcome::TimedOut,
            Some(s) if s.success() => Outcome::Passed,
            Some(s) => {
                let text = String::from_utf8_lossy(&tail);
                let last: Vec<&str> = text.lines().rev().take(3).collect();
                let joined = last.into_iter().rev().collect::<Vec<_>>().join(" | ");
                Outcome::Failed(if joined.is_empty() { format!("exit status {s}") } else { joined })
            }
        })
    }
}

/// A pipe, both ends close-on-exec and non-blocking.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and owned here.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The layer a failed child reported, if it reported one.
fn read_report(read: OwnedFd) -> Option<SandboxError> {
    let mut msg = [0u8; 5];
    let mut file = std::fs::File::from(read);
    file.read_exact(&mut msg).ok()?;
    let layer = *Layer::ALL.iter().find(|l| **l as u8 == msg[0])?;
    let errno = i32::from_ne_bytes(msg[1..].try_into().expect("four bytes"));
    Some(SandboxError::Layer { layer, source: io::Error::from_raw_os_error(errno) })
}

fn set_nonblocking(fd: libc::c_int) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor this process owns.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags == -1 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Waits until `fd` is readable (or hung up), at most `timeout`.
fn poll_readable(fd: libc::c_int, timeout: Duration) {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: poll on one valid pollfd.
    unsafe { libc::poll(&mut p, 1, timeout.as_millis() as libc::c_int) };
}

/// Appends what can be read without blocking, keeping only the last [`STDERR_CAP`] bytes.
fn read_available(from: &mut impl Read, tail: &mut Vec<u8>) {
    let mut buf = [0u8; 16 << 10];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 2 * STDERR_CAP {
            tail.drain(..tail.len() - STDERR_CAP);
        }
    }
    if tail.len() > STDERR_CAP {
        tail.drain(..tail.len() - STDERR_CAP);
    }
}

/// Kills every live process owned by `uid` (as root, the worker's uid owns nothing else), sweeping
/// until none is left so that processes forked during a sweep die too. Zombies are dead already and
/// are left for their reaper. Used without namespaces, where no PID namespace does it.
fn kill_uid(uid: libc::uid_t) {
    use std::os::unix::fs::MetadataExt;
    for _ in 0..100 {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return;
        };
        let mut found = false;
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<libc::pid_t>().ok()) else {
                continue;
            };
            let owned = e.metadata().is_ok_and(|m| m.uid() == uid);
            let status = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let zombie = status.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z'));
            if owned && !zombie {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_only_mode_still_enforces_time_and_memory() {
        let limits = Limits { timeout: Duration::from_millis(1500), memory_bytes: 512 << 20, ..Limits::default() };
        let sandbox = Sandbox::new(&default_python(), limits, Isolation::LimitsOnly).unwrap();
        let worker = sandbox.worker(0).unwrap();
        assert_eq!(sandbox.run(&worker, "assert 1 + 1 == 2\n").unwrap(), Outcome::Passed);
        assert_eq!(sandbox.run(&worker, "while True:\n    pass\n").unwrap(), Outcome::TimedOut);
        match sandbox.run(&worker, "x = bytearray(4 * 1024 ** 3)\n").unwrap() {
            Outcome::Failed(message) => assert!(message.contains("MemoryError"), "{message}"),
            other => panic!("a 4 GB allocation under a 512 MB limit gave {other:?}"),
        }
        match sandbox.run(&worker, "raise SystemExit(3)\n").unwrap() {
            Outcome::Failed(message) => assert!(message.contains("exit status"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missing_interpreter_is_named() {
        let err = Sandbox::new(Path::new("no-such-python-3"), Limits::default(), Isolation::Full).unwrap_err();
        assert!(err.to_string().contains("no-such-python-3"), "{err}");
    }
}
