"""Load benchmark of `slm serve` against llama.cpp's `llama-server`, side by side in one run, loopback only.

Both serve SmolLM2-135M-Instruct in f32 (slm: its import of the shipped Q4_1 GGUF, dequantized to f32;
llama.cpp: that same model exported by `slm export --format gguf --dtype f32`), greedy, 2 threads, the
same chat prompts and `max_tokens`. slm runs with `--max-batch B`, llama-server with `--parallel B`
(continuous batching on). For 1, 4, 16 and 64 concurrent streaming clients, each client sends requests
back to back until it has sent its share; reported: throughput (completion tokens / wall time), time to
first token and inter-token latency p50/p99.

    python3 bench/serve_bench.py --llama-server PATH [--slm PATH] [--batch 16] [--max-tokens 64]

Bounded: at most 64 requests per concurrency level and server. Writes bench/results-serve.json.
"""
import argparse
import http.client
import json
import os
import pathlib
import socket
import statistics
import subprocess
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".serve"
GGUF = "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
QUESTIONS = [
    "What is the capital of France?", "Explain photosynthesis in one sentence.", "Name three prime numbers.",
    "Why is the sky blue?", "Give a synonym of happy.", "What does a compiler do?", "Describe a cat.",
    "How many legs has a spider?", "What is machine learning?", "Write a haiku about rain.",
    "What is the boiling point of water?", "Who wrote Hamlet?", "What is a noun?", "Define gravity.",
    "List two colours of the rainbow.", "What is an atom?",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, proc, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("server not ready")


def one_request(port, question, max_tokens):
    """One streamed chat request: (completion tokens, seconds to first token, gaps between tokens, seconds)."""
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": question}], "max_tokens": max_tokens,
                       "temperature": 0, "stream": True, "stream_options": {"include_usage": True}})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    c.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    assert r.status == 200, r.read()
    arrivals, tokens = [], None
    for line in r:
        line = line.strip()
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        if chunk.get("usage"):
            tokens = chunk["usage"]["completion_tokens"]
        for choice in chunk.get("choices", []):
            if choice.get("delta", {}).get("content"):
                arrivals.append(time.perf_counter())
    end = time.perf_counter()
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    return tokens if tokens is not None else len(arrivals), (arrivals[0] - start if arrivals else end - start), gaps, end - start


def load(port, clients, requests, max_tokens):
    results, lock = [], threading.Lock()
    counter = iter(range(requests))
    next_lock = threading.Lock()

    def client():
        while True:
            with next_lock:
                i = next(counter, None)
            if i is None:
                return
            out = one_request(port, QUESTIONS[i % len(QUESTIONS)], max_tokens)
            with lock:
                results.append(out)

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    tokens = sum(r[0] for r in results)
    ttft = sorted(r[1] for r in results)
    gaps = sorted(g for r in results for g in r[2])
    pct = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")
    return {"clients": clients, "requests": len(results), "tokens": tokens, "seconds": round(wall, 2),
            "tokens_per_s": round(tokens / wall, 1), "ttft_p50_ms": round(1e3 * pct(ttft, 0.5), 1),
            "ttft_p99_ms": round(1e3 * pct(ttft, 0.99), 1), "itl_p50_ms": round(1e3 * pct(gaps, 0.5), 1),
            "itl_p99_ms": round(1e3 * pct(gaps, 0.99), 1)}


def run_server(name, cmd, port, levels, max_tokens):
    log = open(WORK / f"{name}.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, RAYON_NUM_THREADS="2"))
    try:
        wait_ready(port, proc)
        one_request(port, QUESTIONS[0], 8)  # warm-up
        rows = []
        for clients in levels:
            row = load(port, clients, min(64, max(4, 2 * clients)), max_tokens)
            print(name, row, flush=True)
            rows.append(row)
        return rows
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slm", default="slm")
    ap.add_argument("--llama-server", required=True)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--levels", default="1,4,16,64")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    models = pathlib.Path(os.environ.get("SLM_MODELS_DIR", ROOT.parent / "shared" / "models"))
    model, gguf = WORK / "smollm2", WORK / "smollm2-f32.gguf"
    if not model.exists():
        subprocess.run([args.slm, "import", str(models / GGUF), "--out", str(model)], check=True)
    if not gguf.exists():
        subprocess.run([args.slm, "export", str(model), "--format", "gguf", "--dtype", "f32", "--out", str(gguf)],
                       check=True)
    levels = [int(x) for x in args.levels.split(",")]
    port = free_port()
    slm = run_server("slm", [args.slm, "serve", "--model", str(model), "--port", str(port),
                             "--max-batch", str(args.batch), "--max-queue", "4096"], port, levels, args.max_tokens)
    port = free_port()
    # Each of the B slots gets 1024 tokens of context (prompt + answer need under 200).
    llama = run_server("llama-server", [args.llama_server, "-m", str(gguf), "--port", str(port), "--threads", "2",
                                        "--threads-batch", "2", "--parallel", str(args.batch), "-c",
                                        str(1024 * args.batch), "--cont-batching", "--no-webui"],
                       port, levels, args.max_tokens)
    out = {"batch": args.batch, "max_tokens": args.max_tokens, "slm": slm, "llama_server": llama}
    (ROOT / "bench" / "results-serve.json").write_text(json.dumps(out, indent=1) + "\n")
    print("| clients | server | tokens/s | TTFT p50 / p99 ms | ITL p50 / p99 ms |")
    print("|---|---|---|---|---|")
    for s, l in zip(slm, llama):
        for name, r in (("slm", s), ("llama-server", l)):
            print(f"| {r['clients']} | {name} | {r['tokens_per_s']} | {r['ttft_p50_ms']} / {r['ttft_p99_ms']} | "
                  f"{r['itl_p50_ms']} / {r['itl_p99_ms']} |")


if __name__ == "__main__":
    main()
