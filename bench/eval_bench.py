"""Evaluator benchmark: slm eval against sacrebleu and rouge-score, side by side, on the same files.

Builds N segment pairs (default 100,000) from the shipped translation and summarization data: translation
hypotheses are references with a few words dropped and swapped (seeded), summaries are SciTLDR lead
sentences against TLDRs. Times `slm eval` end to end (process start, file reading and scoring; the median
of five runs) and the reference library call alone (files already in memory; one run, tens of seconds),
checks that the scores agree, then prints a Markdown table with the ratios.

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install sacrebleu==2.6.0 rouge-score==0.1.2 nltk==3.10.4
    /tmp/ref/bin/python bench/eval_bench.py [--pairs 100000] [--slm PATH]
"""
import argparse
import json
import os
import pathlib
import random
import subprocess
import tempfile
import time

root = pathlib.Path(__file__).resolve().parent.parent
data = root / "datasets"


def translation_pairs(n):
    refs = []
    refs += (data / "tico19_en_fr/tico19-test.fr").read_text(encoding="utf-8").splitlines()
    for code in ["fra", "deu", "spa"]:
        refs += (data / f"flores200_devtest/{code}_Latn.devtest").read_text(encoding="utf-8").splitlines()
    rng = random.Random(0)
    hyps, out_refs = [], []
    while len(hyps) < n:
        for r in refs:
            words = r.split()
            words = [w for w in words if rng.random() > 0.15]
            if len(words) > 3:
                i = rng.randrange(len(words) - 1)
                words[i], words[i + 1] = words[i + 1], words[i]
            hyps.append(" ".join(words))
            out_refs.append(r)
            if len(hyps) == n:
                break
    return hyps, out_refs


def summary_pairs(n):
    recs = []
    for split in ["train", "dev", "test"]:
        recs += [json.loads(l) for l in (data / f"scitldr/{split}.jsonl").read_text(encoding="utf-8").splitlines()]
    clean = lambda s: " ".join(s.split())
    hyps, refs = [], []
    while len(hyps) < n:
        for r in recs:
            hyps.append("\\n".join(clean(s) for s in r["source"][:2]))
            refs.append(clean(r["target"][0]))
            if len(hyps) == n:
                break
    return hyps, refs


def timed(f):
    t = time.perf_counter()
    result = f()
    return time.perf_counter() - t, result


def run_slm(slm, args, repeats=5):
    """The median wall time of `repeats` runs (a shared 2-core machine is noisy), and the scores."""
    times = []
    for _ in range(repeats):
        t, out = timed(lambda: subprocess.run([slm, "eval", *args, "--json"], check=True, capture_output=True, text=True))
        times.append(t)
    return sorted(times)[len(times) // 2], json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=100_000)
    ap.add_argument("--slm", default=os.path.expanduser("~/.cache/slm-target/release/slm"))
    args = ap.parse_args()
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU, CHRF

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        hyps, refs = translation_pairs(args.pairs)
        (tmp / "mt.hyp").write_text("\n".join(hyps) + "\n", encoding="utf-8")
        (tmp / "mt.ref").write_text("\n".join(refs) + "\n", encoding="utf-8")
        files = ["--hyp", str(tmp / "mt.hyp"), "--ref", str(tmp / "mt.ref")]
        t_slm, s = run_slm(args.slm, ["--metric", "bleu", *files])
        t_ref, r = timed(lambda: BLEU().corpus_score(hyps, [refs]))
        assert abs(s["score"] - r.score) < 1e-9, (s["score"], r.score)
        rows.append(("BLEU (13a)", t_slm, t_ref, f"{s['score']:.4f} = {r.score:.4f}"))
        t_slm, s = run_slm(args.slm, ["--metric", "chrf", *files])
        t_ref, r = timed(lambda: CHRF().corpus_score(hyps, [refs]))
        assert abs(s["score"] - r.score) < 1e-9, (s["score"], r.score)
        rows.append(("chrF", t_slm, t_ref, f"{s['score']:.4f} = {r.score:.4f}"))
        t_slm, s = run_slm(args.slm, ["--metric", "chrf", "--word-order", "2", *files])
        t_ref, r = timed(lambda: CHRF(word_order=2).corpus_score(hyps, [refs]))
        assert abs(s["score"] - r.score) < 1e-9, (s["score"], r.score)
        rows.append(("chrF++", t_slm, t_ref, f"{s['score']:.4f} = {r.score:.4f}"))

        hyps, refs = summary_pairs(args.pairs)
        (tmp / "sum.hyp").write_text("\n".join(hyps) + "\n", encoding="utf-8")
        (tmp / "sum.ref").write_text("\n".join(refs) + "\n", encoding="utf-8")
        files = ["--hyp", str(tmp / "sum.hyp"), "--ref", str(tmp / "sum.ref")]
        for types in [["rougeL", "rougeLsum"], ["rouge1", "rouge2", "rougeL", "rougeLsum"]]:
            t_slm, s = run_slm(args.slm, ["--metric", "rouge", "--stemmer", "--types", ",".join(types), *files])
            scorer = rouge_scorer.RougeScorer(types, use_stemmer=True)
            pairs = [(r, h.replace("\\n", "\n")) for h, r in zip(hyps, refs)]
            t_ref, scores = timed(lambda: [scorer.score(r, h) for r, h in pairs])
            mean = sum(x["rougeLsum"].fmeasure for x in scores) / len(scores)
            assert abs(s["rougeLsum"]["fmeasure"] - mean) < 1e-9, (s["rougeLsum"], mean)
            rows.append((f"ROUGE {'+'.join(types)}, stemmed", t_slm, t_ref, f"Lsum F {mean:.6f}"))

    print(f"{args.pairs:,} segment pairs; slm: whole process, {os.cpu_count()} cores; references: library call only\n")
    print("| metric | slm s | reference s | speed-up | score (slm = reference) |")
    print("|---|---|---|---|---|")
    for name, t_slm, t_ref, score in rows:
        print(f"| {name} | {t_slm:.2f} | {t_ref:.1f} | {t_ref / t_slm:.0f}x | {score} |")


if __name__ == "__main__":
    main()
