//! pass@k runs untrusted code: each limit of the sandbox is proven here with a hostile sample, and the
//! samples after it still run and pass.

use std::io::Read;
use std::net::TcpListener;

use crate::util::*;
use serde_json::{Value, json};

#[test]
fn hostile_samples_are_contained_and_the_next_sample_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let escape = std::env::temp_dir().join(format!("slm-escape-{}", std::process::id()));
    let shm = format!("/dev/shm/slm-escape-{}", std::process::id());
    let good = "def f():\n    return 1\n";
    let hostile = [
        ("infinite loop", "while True:\n    pass\n".to_owned()),
        (
            "fork bomb",
            "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n".to_owned(),
        ),
        ("10 GB allocation", "x = bytearray(10 * 1024 ** 3)\n".to_owned()),
        ("write outside", format!("open({:?}, 'w').write('x')\n", escape.display().to_string())),
        ("write to /dev/shm", format!("open({shm:?}, 'w').write('x')\n")),
        (
            "socket connect",
            format!(
                "import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\ns.sendall(b'leak')\n"
            ),
        ),
    ];
    let mut problems = String::new();
    let mut samples = String::new();
    for (i, (_, code)) in hostile.iter().enumerate() {
        problems += &format!("{}\n", json!({"task_id": i, "test_list": ["assert f() == 1"]}));
        samples += &format!("{}\n", json!({"task_id": i, "completion": format!("{code}{good}")}));
        samples += &format!("{}\n", json!({"task_id": i, "completion": good}));
    }
    let (p, s, details) = (dir.path().join("p.jsonl"), dir.path().join("s.jsonl"), dir.path().join("d.jsonl"));
    std::fs::write(&p, problems).unwrap();
    std::fs::write(&s, samples).unwrap();
    let o = slm(&[
        "eval",
        "--metric",
        "pass@k",
        "--problems",
        p.to_str().unwrap(),
        "--samples",
        s.to_str().unwrap(),
        "--k",
        "1,2",
        "--timeout",
        "3",
        "--memory-mb",
        "1024",
        "--jobs",
        "2",
        "--allow-code-execution",
        "--details",
        details.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["sandbox"], "namespaces", "CI runs where namespaces exist");
    assert_eq!(j["pass@1"], 0.5);
    assert_eq!(j["pass@2"], 1.0);
    let rows: Vec<Value> =
        std::fs::read_to_string(&details).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for (i, (name, _)) in hostile.iter().enumerate() {
        let row = rows.iter().find(|r| r["task_id"].as_str().and_then(|t| t.parse::<usize>().ok()) == Some(i)).unwrap();
        assert_ne!(row["samples"][0]["status"], "passed", "{name} passed: {row}");
        assert_eq!(row["samples"][1]["status"], "passed", "the sample after {name} failed: {row}");
    }
    let loop_row = rows.iter().find(|r| r["task_id"] == "0").unwrap();
    assert_eq!(loop_row["samples"][0]["status"], "timed out");
    assert!(!escape.exists(), "a sample wrote outside its directory");
    assert!(!std::path::Path::new(&shm).exists(), "a sample wrote to /dev/shm");
    let mut buf = [0u8; 16];
    match listener.accept() {
        Ok((mut conn, _)) => panic!("a sample connected: {:?}", conn.read(&mut buf)),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
    }
    // The fork bomb left nothing behind: no live process of a sandbox uid survives (zombies are dead and
    // wait only for their reaper).
    let leftovers = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("status")).ok())
        .filter(|s| {
            let sandboxed = s.lines().any(|l| {
                l.starts_with("Uid:")
                    && l.split_whitespace().nth(1).and_then(|u| u.parse::<u64>().ok()).is_some_and(|u| u >= 1_000_000)
            });
            sandboxed && !s.lines().any(|l| l.starts_with("State:") && l.contains("Z"))
        })
        .count();
    assert_eq!(leftovers, 0, "sandbox processes survived");
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
