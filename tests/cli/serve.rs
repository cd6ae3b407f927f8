//! `slm serve` end to end: the official `openai` Python client against a tiny Llama with a chat template
//! and a LoRA adapter (tests/serve/openai_client.py), raw HTTP for hostile input, and the real SmolLM2 for
//! client disconnects, backpressure (429) and draining on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::*;

/// A running `slm serve` on a free loopback port; killed when dropped.
struct Server {
    child: Child,
    addr: String,
    log: mpsc::Receiver<String>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_slm"))
            .arg("serve")
            .args(["--port", "0"])
            .args(args)
            .stderr(Stdio::piped())
            .spawn()
            .expect("slm serve starts");
        let (tx, log) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut server = Server { child, addr: String::new(), log };
        let deadline = Instant::now() + Duration::from_secs(120);
        while server.addr.is_empty() {
            let line = server.log.recv_timeout(deadline - Instant::now()).expect("slm serve prints its address");
            if let Some(rest) = line.split("listening on http://").nth(1) {
                server.addr = rest.split_whitespace().next().expect("an address").to_owned();
            }
        }
        while http(&server.addr, "GET", "/health", &[], b"").0 != 200 {
            assert!(Instant::now() < deadline, "slm serve never became ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn metric(&self, name: &str, key: &str) -> f64 {
        let (_, body) = http(&self.addr, "GET", "/metrics", &[("Authorization", key)], b"");
        body.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{name} not in /metrics"))
            .parse()
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a fresh connection: status and body (raw; a streamed body keeps its chunking).
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(addr) else { return (0, String::new()) };
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()));
    if s.write_all(head.as_bytes()).and_then(|()| s.write_all(body)).is_err() {
        return (0, String::new());
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let status = raw.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

/// The OpenAI error object of a body.
fn error_of(body: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let e = v["error"].clone();
    assert!(
        e["message"].is_string() && e["type"].is_string() && e.get("param").is_some() && e.get("code").is_some(),
        "{v}"
    );
    e
}

/// The tiny Llama of the transformers fixtures and its PEFT adapter, with a short chat template added.
fn tiny_models(dir: &Path) -> (String, String) {
    let template = "{% for m in messages %}{{ m.role[0] | upper }}: {{ m.content }}\n{% endfor %}\
                    {% if add_generation_prompt %}A:{% endif %}";
    for sub in ["model", "lora_slm"] {
        let (from, to) = (slm_testkit::testdata("hf/llama").join(sub), dir.join(sub));
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(&from).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
        let config = to.join("tokenizer_config.json");
        let mut c: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        c["chat_template"] = template.into();
        std::fs::write(&config, c.to_string()).unwrap();
    }
    (dir.join("model").display().to_string(), dir.join("lora_slm").display().to_string())
}

/// The Python that has the `openai` package: SLM_TEST_PYTHON (`.ci/run` makes a venv with it), else python3.
fn python() -> String {
    std::env::var("SLM_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

#[test]
fn the_openai_client_gets_what_openai_gives() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, adapter) = tiny_models(tmp.path());
    let adapter_arg = format!("tuned={adapter}");
    let server = Server::start(&["--model", &model, "--adapter", &adapter_arg, "--api-key", "sk-test"]);
    let script = slm_testkit::root().join("tests/serve/openai_client.py");
    let o = Command::new(python())
        .arg(&script)
        .args([&server.url(), "sk-test", "model", "tuned"])
        .output()
        .expect("python runs (set SLM_TEST_PYTHON to a Python with the openai package)");
    let err = stderr(&o);
    assert!(
        !err.contains("No module named 'openai'"),
        "set SLM_TEST_PYTHON to a Python with `openai` (.ci/run makes one)"
    );
    assert!(o.status.success(), "{}{err}", stdout(&o));
    assert!(stdout(&o).starts_with("ok:"), "{}", stdout(&o));
}

#[test]
fn hostile_http_gets_a_4xx_and_the_server_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, _) = tiny_models(tmp.path());
    let server = Server::start(&["--model", &model, "--api-key", "k"]);
    let auth = [("Authorization", "Bearer k")];
    let post = |path: &str, body: &[u8]| http(&server.addr, "POST", path, &auth, body);
    let good = br#"{"prompt": "ROMEO:", "max_tokens": 3, "temperature": 0}"#;

    // A slow client that sends half a request and waits holds no one else up.
    let mut slow = TcpStream::connect(&server.addr).unwrap();
    slow.write_all(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"pro").unwrap();

    let cases: [(&[u8], u16, &str); 7] = [
        (b"{not json", 400, "body"),
        (b"[]", 400, "body"),
        (br#"{"prompt": 5}"#, 400, "prompt"),
        (br#"{"prompt": "a", "max_tokens": "many"}"#, 400, "max_tokens"),
        (br#"{"prompt": "a", "n": 1000000}"#, 400, "n"),
        (br#"{"prompt": "a", "logit_bias": {"1": 5}}"#, 400, "logit_bias"),
        (br#"{"prompt": "a", "stop": [1, 2]}"#, 400, "stop"),
    ];
    for (body, status, param) in cases {
        let (got, text) = post("/v1/completions", body);
        assert_eq!(got, status, "{}: {text}", String::from_utf8_lossy(body));
        assert_eq!(error_of(&text)["param"], param, "{text}");
    }
    // Unreadable UTF-8, a body over the limit, wrong paths and methods, no key, a wrong key.
    let (status, text) = post("/v1/chat/completions", b"\xff\xfe{}");
    assert_eq!(status, 400, "{text}");
    // A body over the limit: 413 (the body is written from another thread; the server may answer early).
    let mut big = TcpStream::connect(&server.addr).unwrap();
    let head = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Length: {}\r\n\r\n",
        5 << 20
    );
    big.write_all(head.as_bytes()).unwrap();
    let mut writer = big.try_clone().unwrap();
    std::thread::spawn(move || writer.write_all(&vec![b'a'; 5 << 20]));
    big.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut answer = [0u8; 4096];
    let n = big.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    error_of(answer.split_once("\r\n\r\n").unwrap().1);
    let (status, text) = http(&server.addr, "GET", "/v1/nothing", &auth, b"");
    assert_eq!(status, 404);
    error_of(&text);
    let (status, text) = http(&server.addr, "DELETE", "/v1/completions", &auth, b"");
    assert_eq!(status, 405);
    error_of(&text);
    for key in [None, Some("Bearer wrong"), Some("Bearer k2"), Some("k")] {
        let headers: Vec<(&str, &str)> = key.map(|k| ("Authorization", k)).into_iter().collect();
        let (status, text) = http(&server.addr, "POST", "/v1/completions", &headers, good);
        assert_eq!(status, 401, "{key:?}");
        assert_eq!(error_of(&text)["type"], "authentication_error");
    }
    // /health needs no key; tokenize and detokenize round-trip; an id outside the vocabulary is refused.
    assert_eq!(http(&server.addr, "GET", "/health", &[], b"").0, 200);
    let (status, text) = post("/tokenize", br#"{"content": "ROMEO"}"#);
    assert_eq!(status, 200, "{text}");
    let ids = serde_json::from_str::<serde_json::Value>(&text).unwrap()["tokens"].clone();
    let (_, text) = post("/detokenize", format!("{{\"tokens\": {ids}}}").as_bytes());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["content"].as_str().unwrap().replace(' ', ""),
        "ROMEO"
    );
    let (status, text) = post("/detokenize", br#"{"tokens": [4000000000]}"#);
    assert_eq!((status, error_of(&text)["param"].as_str()), (400, Some("tokens")));

    // Through all of that the server kept serving, the slow client included.
    let (status, text) = post("/v1/completions", good);
    assert_eq!(status, 200, "{text}");
    drop(slow);
    assert_eq!(post("/v1/completions", good).0, 200);
}

/// SmolLM2 imported from its GGUF into `dir` (a real model: generation takes long enough to interrupt).
fn smollm2(dir: &Path) -> String {
    let model = dir.join("smollm2");
    let gguf = slm_testkit::model(slm_testkit::SMOLLM2_GGUF);
    let o = slm(&["import", gguf.to_str().unwrap(), "--out", model.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    model.display().to_string()
}

/// Opens a streamed chat request and returns the connection once its first event has arrived.
fn open_stream(addr: &str, max_tokens: usize) -> TcpStream {
    let body = format!(
        r#"{{"messages": [{{"role": "user", "content": "Write a long story about a lighthouse."}}], "max_tokens": {max_tokens}, "temperature": 0, "stream": true}}"#
    );
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("data: ") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the stream closed before its first event");
        seen.extend_from_slice(&buf[..n]);
    }
    s
}

#[test]
fn disconnects_free_their_slot_the_queue_refuses_with_429_and_sigterm_drains() {
    let tmp = tempfile::tempdir().unwrap();
    let model = smollm2(tmp.path());
    let server = Server::start(&["--model", &model, "--max-batch", "1", "--max-queue", "1"]);

    // A client that goes away mid-stream: its row leaves the batch at the next token.
    let gone = open_stream(&server.addr, 400);
    drop(gone);
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.metric("slm_cancelled_total", "") < 1.0 {
        assert!(Instant::now() < deadline, "the disconnected client's row was never cancelled");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.metric("slm_batch_size", ""), 0.0);

    // One slot, one queue place: a running request and a waiting one fill them; the next gets 429.
    let running = open_stream(&server.addr, 400);
    let waiting = std::thread::spawn({
        let addr = server.addr.clone();
        move || {
            let body = br#"{"prompt": "Hello", "max_tokens": 2, "temperature": 0}"#;
            http(&addr, "POST", "/v1/completions", &[], body)
        }
    });
    while server.metric("slm_queue_length", "") < 1.0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (status, text) = http(&server.addr, "POST", "/v1/completions", &[], br#"{"prompt": "Hi", "max_tokens": 2}"#);
    assert_eq!(status, 429, "{text}");
    assert_eq!(error_of(&text)["type"], "rate_limit_error");
    drop(running);
    let (status, text) = waiting.join().unwrap();
    assert_eq!(status, 200, "the waiting request is served once the slot frees: {text}");

    // SIGTERM while a stream runs: the stream is finished ([DONE]), then slm exits 0.
    let mut live = open_stream(&server.addr, 40);
    let mut server = server;
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    let mut rest = String::new();
    let _ = live.read_to_string(&mut rest);
    assert!(rest.contains("\"finish_reason\":\"length\"") && rest.contains("data: [DONE]"), "{rest}");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}");
    let lines: Vec<String> = server.log.try_iter().collect();
    assert!(lines.iter().any(|l| l.contains("stopped")), "{lines:?}");
}

#[test]
fn a_model_that_fails_to_load_is_one_sentence_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    // The port opens first (so /health can say "loading"), then the load fails: the error is the last line.
    let o = slm(&["serve", "--model", tmp.path().to_str().unwrap(), "--port", "0"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: ") && last.contains("config.json") && !err.contains("panicked"), "{err}");
    let o = slm(&["serve", "--model", tmp.path().to_str().unwrap(), "--adapter", "nodir"]);
    assert_bad_input(&o, &["--adapter nodir", "NAME=DIR"]);
}
