//! pass@k runs untrusted code. Every attack below runs as a sample of one `slm eval --metric pass@k`
//! call, once as root and once as an unprivileged user (only the latter where the tests do not run as
//! root): each is contained, nothing of the host leaks into any output, no process survives the run, and
//! the correct sample after each still passes. Where a layer cannot be built slm refuses, naming it.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{SocketAddr, UnixListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::*;
use serde_json::{Value, json};
use slm_eval::passk::sandbox::seccomp::Filter;

/// The unprivileged user the second half runs as.
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// What an attack should end as.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Its `f()` returns 1 only if every attempt was refused.
    Passes,
    /// Killed or failed (and nothing leaked).
    NotPassed,
    /// Killed at the wall-clock limit.
    TimesOut,
}

/// The host side the attacks aim at: listeners, secret files, a marker in slm's environment.
struct Host {
    dir: tempfile::TempDir,
    tcp: TcpListener,
    unix: UnixListener,
    abstract_name: String,
    abstract_listener: UnixListener,
    /// (path, content) of files the sample must not read.
    secrets: Vec<(PathBuf, String)>,
    marker: String,
}

impl Drop for Host {
    fn drop(&mut self) {
        for (path, _) in &self.secrets {
            if !path.starts_with(self.dir.path()) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

impl Host {
    fn new(user: Option<u32>) -> Host {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        tcp.set_nonblocking(true).unwrap();
        let unix = UnixListener::bind(dir.path().join("host.sock")).unwrap();
        unix.set_nonblocking(true).unwrap();
        std::fs::set_permissions(dir.path().join("host.sock"), std::fs::Permissions::from_mode(0o777)).unwrap();
        use std::os::linux::net::SocketAddrExt;
        let abstract_name = format!("slm-sandbox-test-{}-{}", std::process::id(), user.unwrap_or(0));
        let abstract_listener =
            UnixListener::bind_addr(&SocketAddr::from_abstract_name(abstract_name.as_bytes()).unwrap()).unwrap();
        abstract_listener.set_nonblocking(true).unwrap();
        let tag = format!("{}{}", std::process::id(), user.unwrap_or(0));
        let mut secrets = Vec::new();
        // A file of the invoking user's own, readable only by them.
        let own = dir.path().join("own-secret");
        std::fs::write(&own, format!("OWNSECRET{tag}")).unwrap();
        std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o600)).unwrap();
        if let Some(uid) = user {
            std::os::unix::fs::chown(&own, Some(uid), Some(uid)).unwrap();
        }
        secrets.push((own, format!("OWNSECRET{tag}")));
        if is_root() {
            // Root-only files, in a directory the sandbox shows (/etc) and in root's home.
            for (path, content) in [
                (PathBuf::from(format!("/etc/slm-sandbox-secret-{tag}")), format!("ROOTSECRET{tag}")),
                (PathBuf::from(format!("/root/.slm-sandbox-secret-{tag}")), format!("HOMESECRET{tag}")),
            ] {
                std::fs::write(&path, &content).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
                secrets.push((path, content));
            }
        }
        Host { dir, tcp, unix, abstract_name, abstract_listener, secrets, marker: format!("ENVMARKER{tag}") }
    }

    fn attacks(&self) -> Vec<(&'static str, String, Expect)> {
        let dir = self.dir.path().display().to_string();
        let port = self.tcp.local_addr().unwrap().port();
        let secret_paths: Vec<String> = self.secrets.iter().map(|(p, _)| p.display().to_string()).collect();
        let me = std::process::id();
        let refused = "def f():\n    return 1 if not done else 0\n";
        vec![
            ("an infinite loop", "while True:\n    pass\n".into(), Expect::TimesOut),
            ("a fork bomb", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n".into(), Expect::NotPassed),
            ("a 10 GB allocation", "x = bytearray(10 * 1024 ** 3)\n".into(), Expect::NotPassed),
            (
                "filling the disk and writing outside /tmp",
                format!(
                    "import os\nn = 0\ntry:\n    with open('/tmp/fill', 'wb') as fh:\n        while True:\n            fh.write(b'x' * (1 << 20))\n            fh.flush()\n            n += 1\nexcept OSError:\n    pass\ndone = [] if n <= 64 else ['tmp']\nfor p in ['/fill', '/usr/fill', '/etc/fill', '/dev/fill', '/dev/shm/fill', '/proc/fill', '{dir}/escape']:\n    try:\n        open(p, 'w').write('x')\n        done.append(p)\n    except OSError:\n        pass\n{refused}"
                ),
                Expect::Passes,
            ),
            (
                "TCP and Unix-socket connects",
                format!(
                    "import socket\ndone = []\nfor family, addr in [(socket.AF_INET, ('127.0.0.1', {port})), (socket.AF_UNIX, '{dir}/host.sock'), (socket.AF_UNIX, '\\0{}')]:\n    s = socket.socket(family)\n    s.settimeout(1)\n    try:\n        s.connect(addr)\n        s.sendall(b'leak')\n        done.append(addr)\n    except OSError:\n        pass\n{refused}",
                    self.abstract_name
                ),
                Expect::Passes,
            ),
            (
                "ptrace, mount, unshare, setns, bpf, keyctl, raw and packet sockets",
                format!(
                    "import ctypes, os, platform, socket\nlibc = ctypes.CDLL(None, use_errno=True)\nnr = {{'x86_64': {{'bpf': 321, 'keyctl': 250}}, 'aarch64': {{'bpf': 280, 'keyctl': 219}}}}[platform.machine()]\ncalls = {{\n    'ptrace attach': lambda: libc.ptrace(16, 1, 0, 0),\n    'ptrace traceme': lambda: libc.ptrace(0, 0, 0, 0),\n    'mount': lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None),\n    'unshare': lambda: libc.unshare(0x10000000),\n    'setns': lambda: libc.setns(os.open('/proc/self/ns/net', os.O_RDONLY), 0),\n    'bpf': lambda: libc.syscall(nr['bpf'], 0, 0, 0),\n    'keyctl': lambda: libc.syscall(nr['keyctl'], 0, -1, 0),\n}}\ndone = [k for k, c in calls.items() if c() != -1]\nfor family, kind in [(socket.AF_INET, socket.SOCK_RAW), (socket.AF_PACKET, socket.SOCK_RAW), (socket.AF_NETLINK, socket.SOCK_RAW)]:\n    try:\n        socket.socket(family, kind, 0)\n        done.append((family, kind))\n    except OSError:\n        pass\n{refused}"
                ),
                Expect::Passes,
            ),
            (
                "signalling the parent and every pid",
                format!(
                    "import os, signal\ndone = []\nfor pid in [{me}, os.getppid()]:\n    try:\n        os.kill(pid, 0)\n        if pid > 1:\n            done.append(pid)\n    except ProcessLookupError:\n        pass\n    except PermissionError:\n        done.append(pid)\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\ndone += [p for p in os.listdir('/proc') if p.isdigit() and p != '1' and not os.path.exists('/proc/' + p + '/task/' + p)]\n{refused}"
                ),
                Expect::Passes,
            ),
            (
                "a setsid daemon and a double fork",
                "import os, subprocess, time\nsubprocess.Popen(['sleep', '4242'], start_new_session=True)\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        os.execvp('sleep', ['sleep', '4243'])\n    os._exit(0)\ntime.sleep(0.3)\ndef f():\n    return 1\n".into(),
                Expect::Passes,
            ),
            (
                "reading secrets, other processes' environments and /proc/1/root",
                format!(
                    "import glob, os, sys\nfound = []\npaths = {secret_paths:?} + ['/etc/shadow', '/proc/{me}/environ', '/proc/1/root/root', '/proc/1/root/{dir}']\npaths += glob.glob('/proc/*/environ') + glob.glob('/proc/*/cmdline') + glob.glob('/proc/*/root' + '{dir}/*')\nfor p in paths:\n    for read in (lambda p: open(p, 'rb').read().decode('latin-1'), lambda p: ' '.join(os.listdir(p))):\n        try:\n            found.append(read(p))\n        except OSError:\n            pass\nprint(' '.join(found).replace(chr(10), ' ').replace(chr(0), ' '), file=sys.stderr)\nraise SystemExit(1)\n"
                ),
                Expect::NotPassed,
            ),
            (
                "symlink and FIFO swaps of every file in its directory",
                format!(
                    "import os, sys\nfor name in ['program.py', '.stderr', 'stderr', 'stdout', 'result.json']:\n    try:\n        os.unlink(name)\n    except OSError:\n        pass\nos.mkfifo('.stderr')\nos.mkfifo('stdout')\nfor i, target in enumerate({secret_paths:?} + ['/etc/shadow']):\n    os.symlink(target, 'link%d' % i)\nos.symlink('/etc/shadow', 'program.py')\nos.symlink('/etc/shadow', 'result.json')\nprint('swapped', file=sys.stderr)\nraise SystemExit(1)\n"
                ),
                Expect::NotPassed,
            ),
        ]
    }

    /// Asserts nothing reached the host: no connection, no file, no secret or marker in `texts`.
    fn assert_untouched(&self, texts: &[&str], who: &str) {
        let mut buf = [0u8; 16];
        if let Ok((mut c, _)) = self.tcp.accept() {
            panic!("{who}: a sample connected over TCP: {:?}", c.read(&mut buf));
        }
        assert!(self.unix.accept().is_err(), "{who}: a sample connected to a Unix socket");
        assert!(self.abstract_listener.accept().is_err(), "{who}: a sample connected to an abstract socket");
        assert!(!self.dir.path().join("escape").exists(), "{who}: a sample wrote to the host");
        for text in texts {
            for (path, secret) in &self.secrets {
                assert!(!text.contains(secret), "{who}: {} leaked: {text}", path.display());
            }
            assert!(!text.contains(&self.marker), "{who}: slm's environment leaked: {text}");
        }
    }
}

/// Live (not zombie) processes whose command line contains `needle`.
fn live_processes_with(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter_map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let zombie = stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z'));
            (cmd.contains(needle) && !zombie).then_some(cmd)
        })
        .collect()
}

/// The slm binary, copied where an unprivileged user can run it.
fn slm_for(user: Option<u32>, dir: &Path) -> PathBuf {
    let own = PathBuf::from(env!("CARGO_BIN_EXE_slm"));
    if user.is_none() {
        return own;
    }
    let copy = dir.join("slm");
    std::fs::copy(&own, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

/// `slm args…` as `user` (None: as this process), with `filter` installed first where given.
fn run_as(
    user: Option<u32>,
    binary: &Path,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    filter: Option<Filter>,
) -> Output {
    let mut cmd = Command::new(binary);
    cmd.args(args).current_dir(dir).env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(uid) = user {
        cmd.uid(uid).gid(uid);
    }
    if let Some(filter) = filter {
        // SAFETY: installing a prepared seccomp filter makes two system calls.
        unsafe { cmd.pre_exec(move || filter.install()) };
    }
    cmd.output().unwrap()
}

/// The users the suite runs as: root and an unprivileged one when the tests run as root, else this one.
fn users() -> Vec<Option<u32>> {
    if is_root() {
        vec![None, Some(NOBODY)]
    } else {
        eprintln!("not root: the sandbox's root half (uid per worker, cgroup) is not exercised");
        vec![None]
    }
}

#[test]
fn every_attack_is_contained_as_root_and_unprivileged_and_the_next_sample_still_runs() {
    for user in users() {
        let who = if user.is_some() {
            "unprivileged"
        } else if is_root() {
            "root"
        } else {
            "this user"
        };
        let host = Host::new(user);
        let attacks = host.attacks();
        let good = "def f():\n    return 1\n";
        let (mut problems, mut samples) = (String::new(), String::new());
        for (i, (_, code, _)) in attacks.iter().enumerate() {
            problems += &format!("{}\n", json!({"task_id": i, "test_list": ["assert f() == 1"]}));
            samples += &format!("{}\n", json!({"task_id": i, "completion": code}));
            samples += &format!("{}\n", json!({"task_id": i, "completion": good}));
        }
        let dir = host.dir.path();
        std::fs::write(dir.join("p.jsonl"), problems).unwrap();
        std::fs::write(dir.join("s.jsonl"), samples).unwrap();
        let binary = slm_for(user, dir);
        #[rustfmt::skip]
        let args = ["eval", "--metric", "pass@k", "--problems", "p.jsonl", "--samples", "s.jsonl", "--k", "1",
            "--timeout", "3", "--memory-mb", "1024", "--jobs", "4", "--allow-code-execution", "--details", "d.jsonl",
            "--json"];
        let o = run_as(user, &binary, dir, &args, &[("SLM_SANDBOX_TEST_MARKER", &host.marker)], None);
        assert!(o.status.success(), "{who}: {}", stderr(&o));
        let j = json(&o);
        assert_eq!(j["sandbox"], "namespaces", "{who}: CI runs where every layer can be built");
        let layers = j["sandbox_layers"].to_string();
        for layer in ["namespaces", "read-only root", "seccomp", "resource limits"] {
            assert!(layers.contains(layer), "{who}: {layer} missing from {layers}");
        }
        assert_eq!(layers.contains("a uid per worker"), user.is_none() && is_root(), "{who}: {layers}");
        let details = std::fs::read_to_string(dir.join("d.jsonl")).unwrap();
        let rows: Vec<Value> = details.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        for (i, (name, _, expect)) in attacks.iter().enumerate() {
            let row = &rows.iter().find(|r| r["task_id"] == i.to_string().as_str()).unwrap()["samples"];
            let status = row[0]["status"].as_str().unwrap();
            match expect {
                Expect::Passes => assert_eq!(status, "passed", "{who}: {name} was not refused: {row}"),
                Expect::NotPassed => assert_ne!(status, "passed", "{who}: {name} passed: {row}"),
                Expect::TimesOut => assert_eq!(status, "timed out", "{who}: {name}: {row}"),
            }
            assert_eq!(row[1]["status"], "passed", "{who}: the sample after {name} failed: {row}");
        }
        host.assert_untouched(&[&details, &stdout(&o), &stderr(&o)], who);
        // (Other tests' samples may be running: only this test's daemons are looked for.)
        for needle in ["sleep 4242", "sleep 4243"] {
            assert_eq!(live_processes_with(needle), Vec::<String>::new(), "{who}: a sample's process survived");
        }
        if user.is_some() {
            // The unprivileged run leaves the lease and cgroup machinery alone.
            assert!(!layers.contains("cgroup"), "{layers}");
        }
    }
}

#[test]
fn workers_beyond_64_get_distinct_unused_uids() {
    if !is_root() {
        eprintln!("not root: uids per worker are leased only as root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let n = 70;
    let sample =
        "import os, sys, time\ntime.sleep(1)\nprint('uid', os.getuid(), file=sys.stderr)\nraise SystemExit(1)\n";
    std::fs::write(dir.path().join("p.jsonl"), format!("{}\n", json!({"task_id": 0, "test_list": []}))).unwrap();
    let samples: String = (0..n).map(|_| format!("{}\n", json!({"task_id": 0, "completion": sample}))).collect();
    std::fs::write(dir.path().join("s.jsonl"), samples).unwrap();
    let jobs = n.to_string();
    #[rustfmt::skip]
    let o = slm_in(dir.path(), &["eval", "--metric", "pass@k", "--problems", "p.jsonl", "--samples", "s.jsonl",
        "--jobs", &jobs, "--allow-code-execution", "--details", "d.jsonl", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let row: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("d.jsonl")).unwrap()).unwrap();
    let uids: std::collections::BTreeSet<u64> = row["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["message"].as_str().unwrap().trim_start_matches("uid ").parse::<u64>().unwrap())
        .collect();
    assert_eq!(uids.len(), n, "{n} concurrent workers shared uids: {uids:?}");
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let accounts: Vec<u64> = passwd.lines().filter_map(|l| l.split(':').nth(2)?.parse().ok()).collect();
    assert!(uids.iter().all(|u| *u >= 2_000_000_000 && !accounts.contains(u)), "{uids:?}");
}

#[test]
fn a_missing_layer_is_refused_by_name_unless_unsandboxed_is_allowed() {
    // slm started under a seccomp filter that refuses new namespaces cannot build the sandbox.
    for user in users() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(dir.path().join("p.jsonl"), "{\"task_id\": 1, \"test_list\": [\"assert f() == 1\"]}\n").unwrap();
        std::fs::write(
            dir.path().join("s.jsonl"),
            "{\"task_id\": 1, \"completion\": \"def f():\\n    return 1\\n\"}\n",
        )
        .unwrap();
        let binary = slm_for(user, dir.path());
        let args =
            ["eval", "--metric", "pass@k", "--problems", "p.jsonl", "--samples", "s.jsonl", "--allow-code-execution"];
        let o = run_as(user, &binary, dir.path(), &args, &[], Some(Filter::new()));
        let layer = if user.is_none() && is_root() { "the PID namespace" } else { "the user namespace" };
        assert_bad_input(&o, &["cannot sandbox pass@k here", layer, "could not be set up", "--allow-unsandboxed"]);
        let mut unsandboxed = args.to_vec();
        unsandboxed.extend(["--allow-unsandboxed", "--json"]);
        let o = run_as(user, &binary, dir.path(), &unsandboxed, &[], Some(Filter::new()));
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(json(&o)["sandbox"], "limits-only");
        assert_eq!(json(&o)["pass@1"], 1.0);
        assert!(stderr(&o).contains(layer), "{}", stderr(&o));
    }
}

#[test]
fn code_execution_needs_explicit_consent_and_known_task_ids() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.jsonl");
    let s = dir.path().join("s.jsonl");
    std::fs::write(&p, "{\"task_id\": 1, \"test_list\": [\"assert True\"]}\n").unwrap();
    std::fs::write(&s, "{\"task_id\": 1, \"completion\": \"x = 1\"}\n").unwrap();
    let args = ["eval", "--metric", "pass@k", "--problems", p.to_str().unwrap(), "--samples", s.to_str().unwrap()];
    assert_bad_input(&slm(&args), &["--allow-code-execution"]);
    std::fs::write(&s, "{\"task_id\": 1, \"completion\": \"x = 1\"}\n{\"task_id\": 7, \"completion\": \"x = 1\"}\n")
        .unwrap();
    let mut with = args.to_vec();
    with.push("--allow-code-execution");
    assert_bad_input(&slm(&with), &["s.jsonl:2", "task_id `7`"]);
    std::fs::write(&s, "{\"task_id\": 1, \"completion\": \"x = 1\"}\n").unwrap();
    with.extend(["--k", "2"]);
    assert_bad_input(&slm(&with), &["pass@2", "at least 2 samples"]);
}
