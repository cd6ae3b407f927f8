//! The seccomp filter every sample runs under: it refuses, with `EPERM`, the system calls that test code
//! never needs and that an escape would — debugging other processes, mounting, loading kernel code,
//! keyrings, new namespaces, raw and packet sockets, io_uring (whose operations bypass seccomp) — and
//! kills a process that calls in through another architecture's table. Everything else is allowed.

use libc::{sock_filter, sock_fprog};

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const LD_ABS_W: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

// Offsets in `struct seccomp_data`: nr, arch, instruction pointer, then six 64-bit arguments (the low
// half of each first on these little-endian targets).
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG0: u32 = 16;
const ARG1: u32 = 24;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// Namespace flags of `clone`: a sample may fork and make threads, not namespaces.
const CLONE_NAMESPACES: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u32;

/// System calls refused outright.
const DENIED: &[libc::c_long] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_getfd,
    libc::SYS_kcmp,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_syslog,
    libc::SYS_quotactl,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_personality,
    libc::SYS_vhangup,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
];

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter { code, jt: 0, jf: 0, k }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// The filter program (built before `fork`; installed with [`Filter::install`]).
#[derive(Debug, Clone)]
pub struct Filter(Vec<sock_filter>);

impl Filter {
    /// Builds the filter for this architecture.
    pub fn new() -> Filter {
        let deny = stmt(RET_K, RET_ERRNO | libc::EPERM as u32);
        let mut p = vec![stmt(LD_ABS_W, ARCH), jump(JEQ_K, AUDIT_ARCH, 1, 0), stmt(RET_K, RET_KILL_PROCESS)];
        p.push(stmt(LD_ABS_W, NR));
        #[cfg(target_arch = "x86_64")]
        p.extend([jump(JGE_K, 0x4000_0000, 0, 1), deny]); // the x32 table
        for &nr in DENIED {
            p.extend([jump(JEQ_K, nr as u32, 0, 1), deny]);
        }
        // clone3 hides its flags in memory a filter cannot read: ENOSYS makes libc fall back to clone.
        p.extend([jump(JEQ_K, libc::SYS_clone3 as u32, 0, 1), stmt(RET_K, RET_ERRNO | libc::ENOSYS as u32)]);
        p.extend([
            jump(JEQ_K, libc::SYS_clone as u32, 0, 4),
            stmt(LD_ABS_W, ARG0),
            jump(JSET_K, CLONE_NAMESPACES, 0, 1),
            deny,
            stmt(RET_K, RET_ALLOW),
        ]);
        // socket(domain, type, …): Unix, IPv4 and IPv6 only, never raw.
        p.extend([
            jump(JEQ_K, libc::SYS_socket as u32, 0, 10),
            stmt(LD_ABS_W, ARG0),
            jump(JEQ_K, libc::AF_UNIX as u32, 3, 0),
            jump(JEQ_K, libc::AF_INET as u32, 2, 0),
            jump(JEQ_K, libc::AF_INET6 as u32, 1, 0),
            deny,
            stmt(LD_ABS_W, ARG1),
            stmt(AND_K, 0xf),
            jump(JEQ_K, libc::SOCK_RAW as u32, 0, 1),
            deny,
            stmt(RET_K, RET_ALLOW),
        ]);
        p.push(stmt(RET_K, RET_ALLOW));
        Filter(p)
    }

    /// Sets `no_new_privs` and installs the filter on the calling thread: two system calls, safe between
    /// `fork` and `exec`.
    ///
    /// # Errors
    /// The kernel refuses (no seccomp support).
    pub fn install(&self) -> std::io::Result<()> {
        let prog = sock_fprog { len: self.0.len() as u16, filter: self.0.as_ptr().cast_mut() };
        // SAFETY: prctl with a filter program that outlives the call.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog as *const sock_fprog) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

impl Default for Filter {
    fn default() -> Self {
        Filter::new()
    }
}
