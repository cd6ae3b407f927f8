//! Sandbox user ids: as root, every worker runs its samples under a uid of its own, leased for the
//! worker's lifetime.
//!
//! A uid is leased only if no account, group or subordinate-id range of the system names it, no live
//! process runs under it, and no other worker (of this or any other `slm` process) holds it: each lease
//! is an exclusive `flock` on a file in a root-only directory, released by the kernel when the holder
//! exits, however it exits. Any number of workers get distinct uids.

use std::collections::HashSet;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// First uid of the range leases are taken from (above the ranges that systemd, useradd and container
/// runtimes hand out by default).
pub const FIRST: u32 = 2_000_000_000;
/// Number of uids in the range.
pub const COUNT: u32 = 1 << 20;

/// One leased uid (its group id is the same number); released on drop.
#[derive(Debug)]
pub struct UidLease {
    uid: u32,
    _lock: File,
}

impl UidLease {
    /// The leased uid.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// Leases a uid no account, group, subordinate range, live process or other lease uses.
    ///
    /// # Errors
    /// The lock directory cannot be made safely, or the whole range is taken.
    pub fn acquire() -> io::Result<UidLease> {
        let dir = lock_dir()?;
        let taken = Taken::read();
        // From the start of the range, so that the lock files are reused: there are never more of them
        // than workers ever ran at once.
        for uid in FIRST..FIRST + COUNT {
            if taken.contains(uid) {
                continue;
            }
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(dir.join(uid.to_string()))?;
            // SAFETY: flock on a descriptor this function owns.
            if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(UidLease { uid, _lock: lock });
            }
        }
        Err(io::Error::other(format!("every sandbox uid from {FIRST} to {} is taken", FIRST + COUNT - 1)))
    }
}

/// The root-only directory that holds the lease files.
fn lock_dir() -> io::Result<PathBuf> {
    let dir = if Path::new("/run").is_dir() {
        PathBuf::from("/run/slm-sandbox-uids")
    } else {
        std::env::temp_dir().join("slm-sandbox-uids")
    };
    match DirBuilder::new().mode(0o700).create(&dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let meta = std::fs::symlink_metadata(&dir)?;
    if !meta.is_dir() || meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        return Err(io::Error::other(format!(
            "{} must be a directory owned by root and writable only by root",
            dir.display()
        )));
    }
    Ok(dir)
}

/// The uids the system already uses.
struct Taken {
    live: HashSet<u32>,
    ranges: Vec<(u32, u32)>,
}

impl Taken {
    fn read() -> Taken {
        let mut live = HashSet::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let is_pid = e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
            if let (true, Ok(meta)) = (is_pid, e.metadata()) {
                live.insert(meta.uid());
            }
        }
        let mut ranges = Vec::new();
        for file in ["/etc/subuid", "/etc/subgid"] {
            for line in std::fs::read_to_string(file).unwrap_or_default().lines() {
                let mut fields = line.split(':').skip(1);
                if let (Some(Ok(first)), Some(Ok(count))) =
                    (fields.next().map(str::parse::<u32>), fields.next().map(str::parse::<u32>))
                {
                    ranges.push((first, first.saturating_add(count)));
                }
            }
        }
        Taken { live, ranges }
    }

    fn contains(&self, uid: u32) -> bool {
        self.live.contains(&uid) || self.ranges.iter().any(|&(a, b)| (a..b).contains(&uid)) || named(uid)
    }
}

/// Whether an account or group (through NSS: files, LDAP, …) has this number.
fn named(id: u32) -> bool {
    let mut buf = vec![0 as libc::c_char; 16 << 10];
    // SAFETY: the out-parameters and buffer are valid for the calls; results are only compared to null.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(id, &mut pw, buf.as_mut_ptr(), buf.len(), &mut found);
        if rc != 0 || !found.is_null() {
            return true;
        }
        let mut gr: libc::group = std::mem::zeroed();
        let mut found: *mut libc::group = std::ptr::null_mut();
        let rc = libc::getgrgid_r(id, &mut gr, buf.as_mut_ptr(), buf.len(), &mut found);
        rc != 0 || !found.is_null()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn leases_are_distinct_unnamed_and_reusable_once_released() {
        if !is_root() {
            eprintln!("uid leases are taken only as root; this process is not root");
            return;
        }
        let leases: Vec<UidLease> = (0..200).map(|_| UidLease::acquire().unwrap()).collect();
        let uids: HashSet<u32> = leases.iter().map(UidLease::uid).collect();
        assert_eq!(uids.len(), 200, "two workers share a uid");
        for &uid in &uids {
            assert!(!named(uid), "uid {uid} belongs to an account");
            assert!((FIRST..FIRST + COUNT).contains(&uid));
        }
        assert!(named(0), "root is an account");
        let first = leases[0].uid();
        drop(leases);
        let again: Vec<UidLease> = (0..200).map(|_| UidLease::acquire().unwrap()).collect();
        assert!(again.iter().any(|l| l.uid() == first), "released uids are leased again");
    }
}
