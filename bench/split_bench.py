"""Split benchmark: 1,000,000 JSONL records (~200 MB), stratified split with exact dedup.

Runs `slm split` and, side by side, a plain-Python reference doing the same work (parse each line,
NFC + lowercase + whitespace-fold the text, drop exact duplicates, stratified 8:2 shuffle, write both
sides), and prints wall time, throughput and peak memory of each as a Markdown table row.

    python3 bench/split_bench.py [--records 1000000] [--slm PATH]
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import unicodedata

WORDS = ("model data train token loss layer head attention value query key batch epoch learning rate "
         "small language split class label spam ham text field record seed shuffle gradient").split()


def make_data(path, n):
    """n records in three classes (60/30/10%); about 5% repeat an earlier text up to case and spacing."""
    rng = random.Random(0)
    labels = ["a"] * 6 + ["b"] * 3 + ["c"]
    recent = []
    with open(path, "w") as f:
        for i in range(n):
            if recent and rng.random() < 0.05:
                text = "  " + rng.choice(recent).upper()
            else:
                words = [rng.choice(WORDS) for _ in range(28)]
                text = " ".join(words) + f" {i}"
                recent = (recent + [text])[-1000:]
            f.write(json.dumps({"id": i, "label": rng.choice(labels), "text": text}) + "\n")


def python_reference(src, out_dir):
    seen, rows = set(), []
    with open(src, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            key = " ".join(unicodedata.normalize("NFC", rec["text"]).lower().split())
            if key in seen:
                continue
            seen.add(key)
            rows.append((rec["label"], line))
    by_class = {}
    for i, (label, _) in enumerate(rows):
        by_class.setdefault(label, []).append(i)
    rng = random.Random(42)
    val = set()
    for label, idx in sorted(by_class.items()):
        rng.shuffle(idx)
        val.update(idx[: len(idx) - round(0.8 * len(idx))])
    with open(os.path.join(out_dir, "train.jsonl"), "w") as t, open(os.path.join(out_dir, "val.jsonl"), "w") as v:
        for i, (_, line) in enumerate(rows):
            (v if i in val else t).write(line)


def timed(cmd):
    start = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {r.stderr}")
    peak_kb = int(r.stderr.strip().splitlines()[-1])
    return wall, peak_kb / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--slm", default=os.path.expanduser("~/.cache/slm-target/release/slm"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data.jsonl")
        make_data(data, args.records)
        mb = os.path.getsize(data) / 1e6
        slm_wall, slm_mem = timed([args.slm, "split", data, "--stratify", "label", "--near-dup", "off",
                                   "--out-dir", os.path.join(tmp, "slm")])
        os.mkdir(os.path.join(tmp, "py"))
        py_wall, py_mem = timed([sys.executable, __file__, "--reference", data, os.path.join(tmp, "py")])
        print(f"records: {args.records:,}, input: {mb:.0f} MB")
        print("| implementation | wall s | records/s | MB/s | peak RSS MB |")
        print("|---|---|---|---|---|")
        for name, wall, mem in [("slm split", slm_wall, slm_mem), ("Python reference", py_wall, py_mem)]:
            print(f"| {name} | {wall:.2f} | {args.records / wall:,.0f} | {mb / wall:.0f} | {mem:.0f} |")
        print(f"speed ratio slm / Python: {py_wall / slm_wall:.1f}x")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--reference":
        python_reference(sys.argv[2], sys.argv[3])
    else:
        main()
