//! The child's side: what runs between `fork` and `exec`. Every call here is a system call on memory
//! prepared before `fork` (async-signal-safe, as `pre_exec` requires); a failing step reports which
//! [`Layer`] it was building through a pipe the parent reads.
//!
//! The process `fork` made (the *supervisor*) starts a session, joins the worker's cgroup and enters new
//! user (without root), PID, mount, network and IPC namespaces; it then forks the *sample*, which is
//! PID 1 of the new PID namespace, and only waits for it and passes its exit status on. When the sample
//! ends — or the supervisor is killed, which kills the sample through its parent-death signal — the
//! kernel kills every other process of the namespace: nothing a sample starts outlives it.
//!
//! The sample builds its file system ([`super::layout`]), writes the program to `/tmp`, sets its
//! resource limits, as root drops to the worker's uid and enters a user namespace of its own (so that
//! every other uid reads as `nobody`), and installs the seccomp filter last.

use std::ffi::{CStr, CString};
use std::io;

use libc::c_int;

use super::Limits;
use super::layout::Mounts;
use super::seccomp::Filter;

/// A layer of the sandbox; the one being built when a step fails is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Layer {
    /// The worker's cgroup (memory and process caps).
    Cgroup = 1,
    /// A new user namespace.
    UserNamespace,
    /// A new PID namespace.
    PidNamespace,
    /// A new mount namespace.
    MountNamespace,
    /// A new network namespace.
    NetworkNamespace,
    /// A new IPC namespace.
    IpcNamespace,
    /// The read-only file system with its private tmpfs.
    FileSystem,
    /// A fresh `/proc`.
    Proc,
    /// Resource limits.
    Limits,
    /// The worker's own uid.
    Uid,
    /// The seccomp filter.
    Seccomp,
    /// Starting the interpreter.
    Start,
}

impl Layer {
    /// Every layer, in the order they are built.
    pub const ALL: [Layer; 12] = [
        Layer::Cgroup,
        Layer::UserNamespace,
        Layer::PidNamespace,
        Layer::MountNamespace,
        Layer::NetworkNamespace,
        Layer::IpcNamespace,
        Layer::FileSystem,
        Layer::Proc,
        Layer::Limits,
        Layer::Uid,
        Layer::Seccomp,
        Layer::Start,
    ];

    /// The layer in words.
    pub fn describe(self) -> &'static str {
        match self {
            Layer::Cgroup => "the cgroup (memory and process caps)",
            Layer::UserNamespace => "the user namespace",
            Layer::PidNamespace => "the PID namespace",
            Layer::MountNamespace => "the mount namespace",
            Layer::NetworkNamespace => "the network namespace",
            Layer::IpcNamespace => "the IPC namespace",
            Layer::FileSystem => "the read-only file system and its private tmpfs",
            Layer::Proc => "a fresh /proc",
            Layer::Limits => "the resource limits",
            Layer::Uid => "the worker's own uid",
            Layer::Seccomp => "the seccomp filter",
            Layer::Start => "the interpreter",
        }
    }
}

/// Everything the child needs, allocated before `fork`.
#[derive(Debug)]
pub struct Plan {
    /// slm runs as root: namespaces are made as root, then the sample drops to `uid`.
    pub root: bool,
    /// The sample's uid and gid (as root: the worker's leased uid; otherwise slm's own).
    pub uid: libc::uid_t,
    /// `/proc/self/uid_map` contents: the uid mapped to itself.
    pub id_map: CString,
    /// The gid map (the gid mapped to itself).
    pub gid_map: CString,
    /// The directory the new root is mounted on (isolated) or the working directory (limits only).
    pub new_root: CString,
    /// The file system to build under `new_root`: full isolation (namespaces, file system, uid); `None`
    /// runs with limits and seccomp only.
    pub mounts: Option<Mounts>,
    /// tmpfs options of the writable `/tmp`.
    pub tmp_options: CString,
    /// The worker's `cgroup.procs` files.
    pub cgroup_procs: Vec<CString>,
    /// The program, written to `/tmp/program.py` (isolated; limits-only writes it before `fork`).
    pub program: Vec<u8>,
    /// Resource limits.
    pub limits: Limits,
    /// The seccomp filter.
    pub filter: Filter,
    /// Write end of the report pipe.
    pub report: c_int,
}

/// A step's result: the layer it built and the error.
type Step = Result<(), (Layer, io::Error)>;

fn check(layer: Layer, rc: c_int) -> Step {
    if rc == -1 { Err((layer, io::Error::last_os_error())) } else { Ok(()) }
}

fn check_long(layer: Layer, rc: libc::c_long) -> Step {
    check(layer, if rc == -1 { -1 } else { 0 })
}

const NULL: *const libc::c_char = std::ptr::null();

/// Runs in the child of `fork`; on failure reports the layer and returns the error.
pub fn enter(plan: &Plan) -> io::Result<()> {
    let result = match &plan.mounts {
        Some(mounts) => supervise(plan, mounts),
        None => limits_only(plan),
    };
    result.map_err(|(layer, e)| {
        let mut msg = [0u8; 5];
        msg[0] = layer as u8;
        msg[1..].copy_from_slice(&e.raw_os_error().unwrap_or(0).to_ne_bytes());
        // SAFETY: write from a local buffer to a descriptor this process holds.
        unsafe { libc::write(plan.report, msg.as_ptr().cast(), msg.len()) };
        e
    })
}

fn limits_only(plan: &Plan) -> Step {
    // SAFETY: system calls on prepared memory.
    unsafe {
        check(Layer::Start, libc::setsid())?;
        join_cgroup(plan)?;
        check(Layer::FileSystem, libc::chdir(plan.new_root.as_ptr()))?;
    }
    // Without root the process limit would count every process of the user, not the sample's.
    set_limits(plan, plan.root)?;
    if plan.root {
        drop_uid(plan)?;
    }
    plan.filter.install().map_err(|e| (Layer::Seccomp, e))
}

fn join_cgroup(plan: &Plan) -> Step {
    for procs in &plan.cgroup_procs {
        write_file(Layer::Cgroup, procs, b"0")?;
    }
    Ok(())
}

/// Writes `data` to an existing file.
fn write_file(layer: Layer, path: &CStr, data: &[u8]) -> Step {
    // SAFETY: open/write/close on prepared memory.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        check(layer, fd)?;
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        libc::close(fd);
        check(layer, if n == data.len() as isize { 0 } else { -1 })
    }
}

/// Writes `/proc/self/{setgroups,uid_map,gid_map}` for a user namespace the caller just entered.
fn map_ids(plan: &Plan) -> Step {
    write_file(Layer::UserNamespace, c"/proc/self/setgroups", b"deny")?;
    write_file(Layer::UserNamespace, c"/proc/self/uid_map", plan.id_map.as_bytes())?;
    write_file(Layer::UserNamespace, c"/proc/self/gid_map", plan.gid_map.as_bytes())
}

/// The supervisor: namespaces, then the sample as PID 1; never returns on success.
fn supervise(plan: &Plan, mounts: &Mounts) -> Step {
    // SAFETY: system calls on prepared memory.
    unsafe {
        check(Layer::Start, libc::setsid())?;
        set_limit(Layer::Limits, libc::RLIMIT_CORE, 0)?;
        join_cgroup(plan)?;
        if !plan.root {
            check(Layer::UserNamespace, libc::unshare(libc::CLONE_NEWUSER))?;
            map_ids(plan)?;
        }
        check(Layer::PidNamespace, libc::unshare(libc::CLONE_NEWPID))?;
        check(Layer::MountNamespace, libc::unshare(libc::CLONE_NEWNS))?;
        check(Layer::NetworkNamespace, libc::unshare(libc::CLONE_NEWNET))?;
        check(Layer::IpcNamespace, libc::unshare(libc::CLONE_NEWIPC))?;
        let pid = libc::fork();
        check(Layer::PidNamespace, pid)?;
        if pid > 0 {
            wait_and_exit(pid);
        }
    }
    sample(plan, mounts)
}

/// The supervisor after the fork: closes every descriptor (so that the parent sees the sample's `exec`
/// and its output's end), waits for the sample and ends the same way it did.
fn wait_and_exit(pid: libc::pid_t) -> ! {
    // SAFETY: system calls only; the process ends here.
    unsafe {
        if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
            for fd in 0..1024 {
                libc::close(fd);
            }
        }
        let mut status: c_int = 0;
        loop {
            let r = libc::waitpid(pid, &mut status, 0);
            if r == pid || (r == -1 && *libc::__errno_location() != libc::EINTR) {
                break;
            }
        }
        if libc::WIFEXITED(status) {
            libc::_exit(libc::WEXITSTATUS(status));
        }
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            libc::signal(sig, libc::SIG_DFL);
            libc::kill(libc::getpid(), sig);
        }
        libc::_exit(127)
    }
}

/// PID 1 of the new namespace: builds the file system, limits, uid and filter; returns to `exec`.
fn sample(plan: &Plan, m: &Mounts) -> Step {
    let fs = Layer::FileSystem;
    // SAFETY: system calls on prepared memory.
    unsafe {
        check(Layer::Start, libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL))?;
        check(fs, libc::mount(NULL, c"/".as_ptr(), NULL, libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()))?;
        let root_options = c"size=1m,nr_inodes=1024,mode=755";
        let (nosuid, nodev) = (libc::MS_NOSUID, libc::MS_NODEV);
        check(
            fs,
            libc::mount(
                c"tmpfs".as_ptr(),
                plan.new_root.as_ptr(),
                c"tmpfs".as_ptr(),
                nosuid | nodev,
                root_options.as_ptr().cast(),
            ),
        )?;
        for d in &m.dirs {
            check(fs, libc::mkdir(d.as_ptr(), 0o755))?;
        }
        for (target, link) in &m.links {
            check(fs, libc::symlink(target.as_ptr(), link.as_ptr()))?;
        }
        for (src, dst) in &m.binds {
            check(fs, libc::mount(src.as_ptr(), dst.as_ptr(), NULL, libc::MS_BIND | libc::MS_REC, std::ptr::null()))?;
            read_only(dst, nosuid | nodev)?;
        }
        for point in &m.submounts {
            read_only(point, nosuid | nodev)?;
        }
        for (src, dst) in &m.devices {
            let fd = libc::open(dst.as_ptr(), libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC, 0o666);
            check(fs, fd)?;
            libc::close(fd);
            check(fs, libc::mount(src.as_ptr(), dst.as_ptr(), NULL, libc::MS_BIND, std::ptr::null()))?;
            read_only(dst, nosuid)?;
        }
        check(
            fs,
            libc::mount(
                c"tmpfs".as_ptr(),
                m.tmp.as_ptr(),
                c"tmpfs".as_ptr(),
                nosuid | nodev,
                plan.tmp_options.as_ptr().cast(),
            ),
        )?;
        // Mounted before the host's /proc goes away: a user namespace may mount proc only while a full
        // one is visible.
        check(
            Layer::Proc,
            libc::mount(
                c"proc".as_ptr(),
                m.proc.as_ptr(),
                c"proc".as_ptr(),
                nosuid | nodev | libc::MS_NOEXEC,
                std::ptr::null(),
            ),
        )?;
        check(fs, libc::chdir(plan.new_root.as_ptr()))?;
        check_long(fs, libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()))?;
        check(fs, libc::umount2(c".".as_ptr(), libc::MNT_DETACH))?;
        check(fs, libc::chdir(c"/".as_ptr()))?;
        let ro = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | nosuid | nodev;
        check(fs, libc::mount(NULL, c"/".as_ptr(), NULL, ro, std::ptr::null()))?;
        let fd = libc::open(
            c"/tmp/program.py".as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o444,
        );
        check(fs, fd)?;
        let mut rest: &[u8] = &plan.program;
        while !rest.is_empty() {
            let n = libc::write(fd, rest.as_ptr().cast(), rest.len());
            if n <= 0 {
                libc::close(fd);
                return check(fs, -1);
            }
            rest = &rest[n as usize..];
        }
        libc::close(fd);
        check(fs, libc::chdir(c"/tmp".as_ptr()))?;
    }
    if plan.root {
        drop_uid(plan)?;
        // SAFETY: system calls on prepared memory.
        unsafe {
            // Changing uid made the process undumpable, which makes /proc/self root's; the maps are
            // written by the process itself.
            check(Layer::UserNamespace, libc::prctl(libc::PR_SET_DUMPABLE, 1))?;
            check(Layer::UserNamespace, libc::unshare(libc::CLONE_NEWUSER))?;
        }
        map_ids(plan)?;
        // SAFETY: prctl with constant arguments.
        unsafe { check(Layer::Start, libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL))? };
    }
    // Last of the steps that open files (every descriptor of the parent is still open here). In its own
    // user namespace the sample's processes are counted apart from the user's others.
    set_limits(plan, true)?;
    plan.filter.install().map_err(|e| (Layer::Seccomp, e))
}

/// The kernel's `struct statfs` on 64-bit targets (libc's omits `f_flags`, the mount flags).
#[repr(C)]
struct KernelStatfs {
    f_type: libc::c_long,
    f_bsize: libc::c_long,
    f_blocks: libc::c_long,
    f_bfree: libc::c_long,
    f_bavail: libc::c_long,
    f_files: libc::c_long,
    f_ffree: libc::c_long,
    f_fsid: [libc::c_int; 2],
    f_namelen: libc::c_long,
    f_frsize: libc::c_long,
    f_flags: libc::c_long,
    f_spare: [libc::c_long; 4],
}

/// Remounts the mount at `point` read-only, keeping the flags it has (a user namespace may not clear
/// them) and adding `extra`.
fn read_only(point: &CString, extra: libc::c_ulong) -> Step {
    // SAFETY: the statfs system call into a local struct of the kernel's layout; mount on prepared memory.
    unsafe {
        let mut st: KernelStatfs = std::mem::zeroed();
        check_long(Layer::FileSystem, libc::syscall(libc::SYS_statfs, point.as_ptr(), &mut st))?;
        let kept = [
            (libc::ST_NOSUID, libc::MS_NOSUID),
            (libc::ST_NODEV, libc::MS_NODEV),
            (libc::ST_NOEXEC, libc::MS_NOEXEC),
            (libc::ST_NOATIME, libc::MS_NOATIME),
            (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
            (libc::ST_RELATIME, libc::MS_RELATIME),
        ]
        .iter()
        .filter(|(st_flag, _)| st.f_flags as libc::c_ulong & st_flag != 0)
        .fold(0, |acc, (_, ms)| acc | ms);
        let flags = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | kept | extra;
        check(Layer::FileSystem, libc::mount(NULL, point.as_ptr(), NULL, flags, std::ptr::null()))
    }
}

fn set_limit(layer: Layer, resource: libc::__rlimit_resource_t, value: u64) -> Step {
    let lim = libc::rlimit { rlim_cur: value, rlim_max: value };
    // SAFETY: setrlimit reads a valid rlimit struct.
    check(layer, unsafe { libc::setrlimit(resource, &lim) })
}

fn set_limits(plan: &Plan, processes: bool) -> Step {
    let l = Layer::Limits;
    set_limit(l, libc::RLIMIT_CPU, plan.limits.timeout.as_secs() + 2)?;
    set_limit(l, libc::RLIMIT_AS, plan.limits.memory_bytes)?;
    set_limit(l, libc::RLIMIT_FSIZE, plan.limits.max_file_bytes)?;
    set_limit(l, libc::RLIMIT_NOFILE, 256)?;
    set_limit(l, libc::RLIMIT_CORE, 0)?;
    if processes {
        set_limit(l, libc::RLIMIT_NPROC, plan.limits.max_processes)?;
    }
    Ok(())
}

/// As root: no supplementary groups, then the worker's gid and uid (after which no privilege is left).
fn drop_uid(plan: &Plan) -> Step {
    // SAFETY: system calls with plain values.
    unsafe {
        check(Layer::Uid, libc::setgroups(0, std::ptr::null()))?;
        check(Layer::Uid, libc::setresgid(plan.uid, plan.uid, plan.uid))?;
        check(Layer::Uid, libc::setresuid(plan.uid, plan.uid, plan.uid))
    }
}
