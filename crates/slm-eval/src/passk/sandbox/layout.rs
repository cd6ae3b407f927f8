//! The file system a sample sees: a fresh tmpfs root holding read-only bind mounts of the system's
//! program directories (`/usr`, `/lib*`, `/bin`, `/sbin`, `/etc`) and of the interpreter's installation,
//! a minimal `/dev` (null, zero, full, random, urandom), a fresh `/proc` of the sample's own PID namespace,
//! and one writable, size-capped tmpfs at `/tmp` that is also its working directory. Nothing else of the
//! host — home directories, `/run` and its sockets, `/dev/shm`, the host's `/tmp` — exists in it.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Host directories shown read-only, at the same path, where they exist.
const SYSTEM: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"];
/// Device nodes bound from the host's `/dev`.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];

/// The host paths the sandbox's root is built from (computed once per sandbox).
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Directories bound read-only at the same path.
    binds: Vec<PathBuf>,
    /// Symbolic links recreated as they are (`/bin -> usr/bin` on merged-/usr systems).
    links: Vec<(PathBuf, PathBuf)>,
    /// Mount points below the binds, remounted read-only one by one.
    submounts: Vec<PathBuf>,
}

impl Layout {
    /// The layout for running `python` (an absolute path).
    pub fn for_interpreter(python: &Path) -> Layout {
        let mut layout = Layout::default();
        for dir in SYSTEM {
            let path = Path::new(dir);
            match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(path) {
                        layout.links.push((path.to_owned(), target));
                    }
                }
                Ok(m) if m.is_dir() => layout.binds.push(path.to_owned()),
                _ => {}
            }
        }
        // The interpreter's installation (`PREFIX/bin/python3` -> PREFIX), for a virtual environment also
        // the installation its link resolves to.
        let given =
            python.parent().and_then(|bin| bin.canonicalize().ok()).and_then(|bin| bin.parent().map(Path::to_owned));
        let resolved = python.canonicalize().ok().and_then(|p| p.parent()?.parent().map(Path::to_owned));
        for prefix in [given, resolved].into_iter().flatten() {
            let shown = layout.binds.iter().any(|b| prefix.starts_with(b))
                || layout.links.iter().any(|(l, _)| prefix.starts_with(l));
            if prefix.parent().is_some() && !shown && !layout.binds.contains(&prefix) {
                layout.binds.push(prefix);
            }
        }
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        for line in info.lines() {
            let Some(point) = line.split(' ').nth(4).map(unescape) else { continue };
            if layout.binds.iter().any(|b| point.starts_with(b) && point != *b) {
                layout.submounts.push(point);
            }
        }
        layout
    }

    /// Everything the child needs to build this layout under `new_root`, as C strings.
    pub fn plan(&self, new_root: &Path) -> Mounts {
        let under = |p: &Path| {
            let rel: PathBuf = p.components().filter(|c| !matches!(c, Component::RootDir)).collect();
            cstr(&new_root.join(rel))
        };
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut add_dir = |p: &Path| {
            for a in p.ancestors().collect::<Vec<_>>().into_iter().rev().skip(1) {
                if !dirs.iter().any(|d| d == a) {
                    dirs.push(a.to_owned());
                }
            }
        };
        for b in &self.binds {
            add_dir(b);
        }
        for d in ["/dev", "/proc", "/tmp"] {
            add_dir(Path::new(d));
        }
        let mut links: Vec<(CString, CString)> = self.links.iter().map(|(l, t)| (cstr(t), under(l))).collect();
        for (name, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            links.push((cstr(Path::new(target)), under(&Path::new("/dev").join(name))));
        }
        Mounts {
            dirs: dirs.iter().map(|d| under(d)).collect(),
            links,
            binds: self.binds.iter().map(|b| (cstr(b), under(b))).collect(),
            submounts: self.submounts.iter().map(|m| under(m)).collect(),
            devices: DEVICES
                .iter()
                .map(|d| {
                    let p = Path::new("/dev").join(d);
                    (cstr(&p), under(&p))
                })
                .collect(),
            tmp: under(Path::new("/tmp")),
            proc: under(Path::new("/proc")),
        }
    }
}

/// A layout as the child builds it: every path already under the new root.
#[derive(Debug)]
pub struct Mounts {
    /// Directories to make, parents first.
    pub dirs: Vec<CString>,
    /// (target, link) symbolic links to make.
    pub links: Vec<(CString, CString)>,
    /// (host directory, mount point) read-only binds.
    pub binds: Vec<(CString, CString)>,
    /// Mount points below the binds, to remount read-only.
    pub submounts: Vec<CString>,
    /// (host device, mount point) binds.
    pub devices: Vec<(CString, CString)>,
    /// The writable tmpfs's mount point.
    pub tmp: CString,
    /// `/proc`'s mount point.
    pub proc: CString,
}

/// A path as a C string (paths never hold a NUL byte).
pub fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("paths have no NUL byte")
}

/// A mount point from /proc/self/mountinfo, with its octal escapes undone.
fn unescape(field: &str) -> PathBuf {
    PathBuf::from(field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interpreter_is_shown_and_homes_and_run_are_not() {
        let layout = Layout::for_interpreter(Path::new("/usr/bin/python3"));
        assert!(layout.binds.iter().any(|b| b == Path::new("/usr")));
        for hidden in ["/root", "/home", "/run", "/tmp", "/var", "/dev", "/proc", "/sys"] {
            assert!(!layout.binds.iter().any(|b| b == Path::new(hidden)), "{hidden} is shown");
        }
        let plan = layout.plan(Path::new("/new"));
        assert_eq!(plan.tmp.to_str().unwrap(), "/new/tmp");
        assert!(plan.dirs.iter().any(|d| d.to_str().unwrap() == "/new/usr"));
    }
}
