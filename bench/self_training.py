"""Few-label classification with and without unlabeled data, measured with slm alone.

For SMS Spam and BANKING77, 10 labeled examples per class are drawn (three seeds); every other training
text is used without its label. Three methods are compared on the same held-out test set (SMS Spam: the
validation side of `slm split --stratify label --seed 42`, BANKING77: its test.csv):
- supervised: `slm train` on the labeled examples alone;
- self-training: the same recipe with a `[self_training]` section (threshold 0.9, at most 4 pseudo-labels
  per labeled example, up to 3 rounds; class balance with --balance true);
- fixmatch: the same with `consistency = "fixmatch"`.
The model is the small GPT-2-family classifier of recipes/sms-spam-classify.toml trained from scratch (a
few seconds per run on a laptop CPU), with a BPE tokenizer learned from all training texts (no labels).
Every method keeps the model its labeled validation side chose (by validation loss: with 2 validation
examples per class, accuracy and F1 saturate), scored with `slm classify` and `slm eval --metric f1`
(macro-F1; spam recall too).

    python bench/self_training.py [--slm PATH] [--seeds 1,2,3] [--datasets sms_spam,banking77]
Prints a Markdown table (mean ± std over seeds, and the mean wall time of a run) and writes
bench/results-self-training.json.
"""
import argparse
import csv
import json
import pathlib
import random
import statistics
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def sh(*args):
    r = subprocess.run([str(a) for a in args], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))}\n{r.stderr}")
    return r.stdout


def read(path):
    if path.suffix == ".csv":
        with open(path, newline="") as f:
            return [{"text": r["text"], "label": r["category"]} for r in csv.DictReader(f)]
    return [json.loads(line) for line in open(path)]


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def pools(name, work):
    """(training rows, test rows) of a dataset."""
    if name == "sms_spam":
        out = work / "sms-split"
        sh(ARGS.slm, "split", "datasets/sms_spam/sms_spam.jsonl", "--stratify", "label", "--seed", "42",
           "--out-dir", out)
        return read(out / "train.jsonl"), read(out / "val.jsonl")
    return read(ROOT / "datasets/banking77/train.csv"), read(ROOT / "datasets/banking77/test.csv")


def run(name, method, seed, train_rows, test, work):
    rng = random.Random(seed)
    by_class = {}
    for i, r in enumerate(train_rows):
        by_class.setdefault(r["label"], []).append(i)
    labeled_ids = {i for ids in by_class.values() for i in rng.sample(ids, min(10, len(ids)))}
    d = work / f"{name}-{method}-{seed}"
    d.mkdir()
    write(d / "labeled.jsonl", [train_rows[i] for i in sorted(labeled_ids)])
    write(d / "unlabeled.jsonl", [{"text": r["text"]} for i, r in enumerate(train_rows) if i not in labeled_ids])
    write(d / "texts.jsonl", [{"text": r["text"]} for r in train_rows])
    sh(ARGS.slm, "tokenizer", "train", d / "texts.jsonl", "--kind", "bpe", "--vocab-size", "2000",
       "--out", d / "tokenizer.json")
    sets = [f"data.train={d / 'labeled.jsonl'}", f"tokenizer.path={d / 'tokenizer.json'}", f"seed={seed}",
            "train.max_steps=300", "train.batch_size=16", "eval.every=50", "eval.metric=loss",
            "checkpoint.every=1000"]
    if method != "supervised":
        sets += [f"self_training.unlabeled={d / 'unlabeled.jsonl'}", "self_training.rounds=3",
                 "self_training.threshold=0.9", "self_training.max_ratio=4", f"self_training.balance={ARGS.balance}"]
    if method == "fixmatch":
        sets.append("self_training.consistency=fixmatch")
    started = time.time()
    args = [ARGS.slm, "train", "recipes/sms-spam-classify.toml", "--out", d / "run"]
    for s in sets:
        args += ["--set", s]
    sh(*args)
    seconds = time.time() - started
    write(d / "test.jsonl", test)
    # Every method's model is the one its validation side chose: best/ of a plain run, final/ (the best
    # round's best/) of a self-training run.
    model = d / ("run/best" if method == "supervised" else "run/final")
    sh(ARGS.slm, "classify", "--model", model, "--input", d / "test.jsonl", "--out", d / "pred.jsonl")
    report = json.loads(sh(ARGS.slm, "eval", "--metric", "f1", "--pred", d / "pred.jsonl", "--gold",
                           d / "test.jsonl", "--pred-field", "prediction", "--gold-field", "label", "--json"))
    rounds = None
    if method != "supervised":
        rows = list(csv.DictReader(open(d / "run/self_training.csv")))
        rounds = sum(r["kept"] == "true" for r in rows) - 1
    result = {"dataset": name, "method": method, "seed": seed, "macro_f1": report["macro_f1"],
              "accuracy": report["accuracy"], "seconds": seconds, "rounds_kept": rounds}
    if name == "sms_spam":
        result["spam_recall"] = report["classes"]["spam"]["recall"]
    print(json.dumps(result), flush=True)
    return result


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--slm", default=str(ROOT / "target/release/slm"))
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--datasets", default="sms_spam,banking77")
    p.add_argument("--balance", default="false", choices=["true", "false"],
                   help="class-balanced pseudo-labels (hurts a skewed dataset such as SMS Spam: 13%% spam)")
    ARGS = p.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        for name in ARGS.datasets.split(","):
            train_rows, test = pools(name, work)
            for method in ["supervised", "self-training", "fixmatch"]:
                for seed in map(int, ARGS.seeds.split(",")):
                    results.append(run(name, method, seed, train_rows, test, work))
    (ROOT / "bench/results-self-training.json").write_text(json.dumps(results, indent=1) + "\n")
    print("\n| dataset | method | macro-F1 | spam recall | rounds kept | seconds per run |")
    print("|---|---|---|---|---|---|")
    for name in ARGS.datasets.split(","):
        for method in ["supervised", "self-training", "fixmatch"]:
            rs = [r for r in results if r["dataset"] == name and r["method"] == method]
            f1 = [r["macro_f1"] for r in rs]
            sd = statistics.stdev(f1) if len(f1) > 1 else 0.0
            recall = "" if name != "sms_spam" else \
                f"{statistics.mean(r['spam_recall'] for r in rs):.3f}"
            kept = "" if method == "supervised" else f"{statistics.mean(r['rounds_kept'] for r in rs):.1f}"
            secs = statistics.mean(r["seconds"] for r in rs)
            print(f"| {name} | {method} | {statistics.mean(f1):.3f} ± {sd:.3f} | {recall} | {kept} | {secs:.0f} |")


if __name__ == "__main__":
    main()
