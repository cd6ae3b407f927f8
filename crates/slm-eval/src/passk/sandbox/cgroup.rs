//! A control group per worker that caps the memory and the number of processes of a whole sample —
//! every process it forks together — where the system lets slm make one (root, with a writable
//! cgroup v2 or v1 hierarchy). Processes join it themselves, before the sample starts, by writing `0`
//! to its `cgroup.procs`.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The two caps a worker's group enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Controller {
    /// `pids.max`: processes and threads.
    Pids,
    /// `memory.max` (v2) or `memory.limit_in_bytes` (v1): resident memory including tmpfs pages.
    Memory,
}

impl Controller {
    fn name(self) -> &'static str {
        match self {
            Controller::Pids => "pids",
            Controller::Memory => "memory",
        }
    }

    /// The file that holds the cap in a v2 (`unified`) or v1 hierarchy.
    fn limit_file(self, unified: bool) -> &'static str {
        match (self, unified) {
            (Controller::Pids, _) => "pids.max",
            (Controller::Memory, true) => "memory.max",
            (Controller::Memory, false) => "memory.limit_in_bytes",
        }
    }
}

/// One worker's control groups (one directory on v2, one per controller on v1); removed on drop.
#[derive(Debug)]
pub struct Cgroup {
    dirs: Vec<PathBuf>,
}

impl Cgroup {
    /// Makes the worker's groups with the caps, or `None` where the system does not allow it.
    pub fn create(name: &str, max_processes: u64, memory_bytes: u64) -> Option<Cgroup> {
        let mut cgroup = Cgroup { dirs: Vec::new() };
        for (controller, value) in [(Controller::Pids, max_processes), (Controller::Memory, memory_bytes)] {
            let (parent, unified) = parent_of(controller)?;
            let dir = parent.join(name);
            if !cgroup.dirs.contains(&dir) {
                if unified {
                    // Delegation to the children; fails where this group holds processes (v2's rule).
                    let _ = std::fs::write(parent.join("cgroup.subtree_control"), format!("+{}", controller.name()));
                }
                match std::fs::create_dir(&dir) {
                    Ok(()) => cgroup.dirs.push(dir.clone()),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => cgroup.dirs.push(dir.clone()),
                    Err(_) => return None,
                }
            }
            std::fs::write(dir.join(controller.limit_file(unified)), value.to_string()).ok()?;
            if controller == Controller::Memory {
                // No swap to spill into, where the kernel accounts it.
                let swap = if unified { "memory.swap.max" } else { "memory.memsw.limit_in_bytes" };
                let _ = std::fs::write(dir.join(swap), if unified { "0".to_owned() } else { value.to_string() });
            }
        }
        Some(cgroup)
    }

    /// The `cgroup.procs` files a process writes `0` to, to join.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        for dir in &self.dirs {
            // A group can be removed once its last process has been reaped.
            for _ in 0..200 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// The directory of this process's own group for `controller`, and whether it is a v2 hierarchy.
fn parent_of(controller: Controller) -> Option<(PathBuf, bool)> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let writable = |p: &Path| {
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).ok()?;
        // SAFETY: access reads a NUL-terminated path.
        (unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0).then_some(())
    };
    // v2 first: the unified hierarchy, where it offers the controller.
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-").filter(|&s| s >= 5) else { continue };
        let (root, point) = (fields[3], fields[4]);
        let (fstype, options) =
            (fields.get(sep + 1).copied().unwrap_or(""), fields.get(sep + 3).copied().unwrap_or(""));
        let own = |hierarchy: &str| {
            groups.lines().find_map(|g| {
                let mut parts = g.splitn(3, ':');
                let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
                (if hierarchy.is_empty() { names.is_empty() } else { names.split(',').any(|n| n == hierarchy) })
                    .then(|| path.to_owned())
            })
        };
        let dir_of = |path: String| {
            let rel = path.strip_prefix(root).unwrap_or(&path).trim_start_matches('/').to_owned();
            Path::new(point).join(rel)
        };
        if fstype == "cgroup2" {
            let Some(path) = own("") else { continue };
            let dir = dir_of(path);
            let offered = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
            if offered.split_whitespace().any(|c| c == controller.name()) && writable(&dir).is_some() {
                return Some((dir, true));
            }
        } else if fstype == "cgroup" && options.split(',').any(|o| o == controller.name()) {
            let dir = dir_of(own(controller.name())?);
            writable(&dir)?;
            return Some((dir, false));
        }
    }
    None
}
