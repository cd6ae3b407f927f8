"""Two builds of slm side by side: training tokens/s (recipes/shakespeare-char.toml, the model of
bench/train_bench.py) and BLEU segment pairs/s (the translation pairs of bench/eval_bench.py), each run
alternately so that the machine's drift hits both alike. Used to check that a build change (profile,
layout) costs no speed.

    python3 bench/binary_compare.py --a OLD/slm --b NEW/slm [--steps 200] [--pairs 100000] [--rounds 3]
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from eval_bench import translation_pairs  # noqa: E402

root = pathlib.Path(__file__).resolve().parent.parent


def train_tokens_per_s(slm, steps, out):
    cmd = [slm, "train", "recipes/shakespeare-char.toml", "--out", out, "--force", "--json",
           "--set", f"train.max_steps={steps}", "--set", "eval.every=100000", "--set", "checkpoint.every=100000"]
    res = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])["tokens_per_s"]


def bleu_pairs_per_s(slm, hyp, ref, n):
    t = time.perf_counter()
    subprocess.run([slm, "eval", "--metric", "bleu", "--hyp", hyp, "--ref", ref, "--json"],
                   check=True, capture_output=True)
    return n / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="the first slm binary (e.g. the old build)")
    ap.add_argument("--b", required=True, help="the second slm binary (e.g. the new build)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--pairs", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp())
    hyps, refs = translation_pairs(args.pairs)
    hyp, ref = tmp / "hyp.txt", tmp / "ref.txt"
    hyp.write_text("\n".join(hyps) + "\n", encoding="utf-8")
    ref.write_text("\n".join(refs) + "\n", encoding="utf-8")
    results = {"a": {"train": [], "bleu": []}, "b": {"train": [], "bleu": []}}
    for r in range(args.rounds):
        for name in ("a", "b"):
            slm = os.path.abspath(getattr(args, name))
            results[name]["train"].append(train_tokens_per_s(slm, args.steps, str(tmp / f"run-{name}")))
            results[name]["bleu"].append(bleu_pairs_per_s(slm, str(hyp), str(ref), args.pairs))
            print(f"round {r + 1} {name}: {results[name]['train'][-1]:,.0f} tokens/s, "
                  f"{results[name]['bleu'][-1]:,.0f} BLEU pairs/s", file=sys.stderr)
    print(f"{'':>22} {'a':>12} {'b':>12} {'b/a':>6}")
    for key, label in [("train", "train tokens/s"), ("bleu", "BLEU pairs/s")]:
        a, b = statistics.median(results["a"][key]), statistics.median(results["b"][key])
        print(f"{label + ' (median)':>22} {a:>12,.0f} {b:>12,.0f} {b / a:>6.2f}")
    for name in ("a", "b"):
        path = os.path.abspath(getattr(args, name))
        print(f"{name}: {path} ({os.path.getsize(path) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
