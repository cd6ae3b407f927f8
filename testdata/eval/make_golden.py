"""Golden values for slm's evaluators, produced by the reference implementations on real data.

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install sacrebleu==2.6.0 rouge-score==0.1.2 nltk==3.10.4
    /tmp/ref/bin/python testdata/eval/make_golden.py

Inputs (committed beside this script, generated here from datasets/ so they can be regenerated):
  flores.{eng,fra,deu,spa}      FLORES-200 devtest, 1,012 aligned sentences
  flores.deu.shuf, flores.spa.shuf   each reference with its words shuffled (seeded): a weak "system"
  tico.en, tico.fr, tico.fr.shuf     TICO-19 test, English -> French, 2,100 sentences
  scitldr.lead, scitldr.lead2, scitldr.ref1, scitldr.ref2   SciTLDR test: the abstract's first sentence
      (and first two, joined by a literal backslash-n for ROUGE-Lsum) against the first and last TLDR
  edge.hyp, edge.ref, edge.ref2   hand-made edge cases (empty lines, unicode punctuation, CRLF, very long
      lines, HTML entities, CJK, Python-only whitespace, hypotheses longer/shorter than every reference)
  stems.tsv                     every distinct word of SciTLDR with NLTK's Porter stem
Files are read as slm reads them: split on "\n", a trailing "\r" dropped, a final newline ends the last
line. For ROUGE a literal backslash-n inside a line separates sentences.

Writes golden.json.
"""
import json
import pathlib
import random
import re

import nltk
import rouge_score
import sacrebleu
from nltk.stem.porter import PorterStemmer
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU, CHRF

here = pathlib.Path(__file__).parent
data = here.parent.parent.parent / "datasets"


def write(name, lines, newline="\n"):
    (here / name).write_bytes("".join(l + newline for l in lines).encode("utf-8"))


def read(name):
    body = (here / name).read_bytes()
    if body.endswith(b"\n"):
        body = body[:-1]
    return [(l[:-1] if l.endswith(b"\r") else l).decode("utf-8") for l in body.split(b"\n")]


def shuffled(lines, seed):
    rng = random.Random(seed)
    out = []
    for l in lines:
        words = l.split(" ")
        rng.shuffle(words)
        out.append(" ".join(words))
    return out


def make_inputs():
    flores = {}
    for code in ["eng", "fra", "deu", "spa"]:
        lines = (data / f"flores200_devtest/{code}_Latn.devtest").read_text(encoding="utf-8").splitlines()
        write(f"flores.{code}", lines)
        flores[code] = lines
    write("flores.deu.shuf", shuffled(flores["deu"], 1))
    write("flores.spa.shuf", shuffled(flores["spa"], 2))
    en = (data / "tico19_en_fr/tico19-test.en").read_text(encoding="utf-8").splitlines()
    fr = (data / "tico19_en_fr/tico19-test.fr").read_text(encoding="utf-8").splitlines()
    write("tico.en", en)
    write("tico.fr", fr)
    write("tico.fr.shuf", shuffled(fr, 3))
    recs = [json.loads(l) for l in (data / "scitldr/test.jsonl").read_text(encoding="utf-8").splitlines()]
    clean = lambda s: " ".join(s.split())
    write("scitldr.lead", [clean(r["source"][0]) for r in recs])
    write("scitldr.lead2", ["\\n".join(clean(s) for s in r["source"][:2]) for r in recs])
    write("scitldr.ref1", [clean(r["target"][0]) for r in recs])
    write("scitldr.ref2", [clean(r["target"][-1]) for r in recs])
    hyp = [
        "",
        "The cat sat on the mat.",
        "the cat",
        "A much longer hypothesis than any of the references given for this particular segment, by far.",
        "“Quoted” — dashes… and ‘single’ quotes’ plus «guillemets» ¿qué? ¡sí!",
        "Numbers 1,000.50 and 3.14, 1990-2000 & more &amp; &lt;tags&gt; <skipped> end.",
        "tabs\there and\u00a0nbsp and\u3000ideographic space and\x1cfile separator",
        "中文的句子，没有空格。还有English混合",
        "日本語の文です。",
        " ".join(["long"] * 3000 + ["line", "with", "many", "tokens"] * 500),
        "Ends with a tokenized period .",
        "emoji 🙂 and ZWJ 👩‍👩‍👧 family",
        "İstanbul ΣΊΣΥΦΟΣ straße",
        "x",
    ]
    ref = [
        "Nothing to match.",
        "The cat is on the mat.",
        "The cat sat on the mat and looked around the room.",
        "Short.",
        "\"Quoted\" - dashes... and 'single' quotes plus <<guillemets>> que? si!",
        "Numbers 1,000.50 and 3.14, 1990 - 2000 & more & <tags> end.",
        "tabs here and nbsp and ideographic space and file separator",
        "中文的句子，没有空格。还有 English 混合",
        "日本語の文だ。",
        " ".join(["long"] * 2000 + ["line", "with", "tokens"] * 700),
        "Ends with a tokenized period.",
        "emoji 🙂 and family",
        "istanbul σίσυφος STRASSE",
        "",
    ]
    ref2 = [r.upper() if i % 2 else " ".join(reversed(r.split())) for i, r in enumerate(ref)]
    write("edge.hyp", hyp, newline="\r\n")  # CRLF on purpose
    write("edge.ref", ref)
    write("edge.ref2", ref2)
    words = set()
    for r in recs:
        for s in r["source"] + r["target"]:
            words.update(w for w in re.sub(r"[^a-z0-9]+", " ", s.lower()).split() if len(w) > 3)
    stemmer = PorterStemmer()
    (here / "stems.tsv").write_text("".join(f"{w}\t{stemmer.stem(w)}\n" for w in sorted(words)))


def bleu_entry(hyp, refs, **kw):
    hyps = read(hyp)
    ref_streams = [read(r) for r in refs]
    metric = BLEU(**kw)
    s = metric.corpus_score(hyps, ref_streams)
    return {
        "hyp": hyp, "refs": refs, "options": kw,
        "score": s.score, "counts": s.counts, "totals": s.totals, "precisions": s.precisions,
        "bp": s.bp, "sys_len": s.sys_len, "ref_len": s.ref_len,
        "signature": str(metric.get_signature()),
    }


def chrf_entry(hyp, refs, **kw):
    metric = CHRF(**kw)
    s = metric.corpus_score(read(hyp), [read(r) for r in refs])
    return {"hyp": hyp, "refs": refs, "options": kw, "score": s.score, "signature": str(metric.get_signature())}


def sentence_entry(hyp, refs, metric_name, **kw):
    hyps = read(hyp)
    streams = [read(r) for r in refs]
    metric = BLEU(effective_order=True, **kw) if metric_name == "bleu" else CHRF(**kw)
    scores = [metric.sentence_score(h, [s[i] for s in streams]).score for i, h in enumerate(hyps)]
    return {"hyp": hyp, "refs": refs, "metric": metric_name, "options": kw, "scores": scores}


def rouge_entry(hyp, refs, stemmer):
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(types, use_stemmer=stemmer)
    unescape = lambda s: s.replace("\\n", "\n")
    hyps = [unescape(h) for h in read(hyp)]
    streams = [[unescape(r) for r in read(x)] for x in refs]
    segments = []
    for i, h in enumerate(hyps):
        targets = [s[i] for s in streams]
        sc = scorer.score_multi(targets, h) if len(targets) > 1 else scorer.score(targets[0], h)
        segments.append({t: [sc[t].precision, sc[t].recall, sc[t].fmeasure] for t in types})
    mean = {t: [sum(s[t][k] for s in segments) / len(segments) for k in range(3)] for t in types}
    return {"hyp": hyp, "refs": refs, "stemmer": stemmer, "segments": segments, "mean": mean}


def main():
    make_inputs()
    pairs = [
        ("flores.eng", ["flores.fra"]),
        ("flores.deu.shuf", ["flores.deu"]),
        ("flores.spa.shuf", ["flores.spa", "flores.fra", "flores.deu"]),
        ("tico.en", ["tico.fr"]),
        ("tico.fr.shuf", ["tico.fr"]),
        ("edge.hyp", ["edge.ref"]),
        ("edge.hyp", ["edge.ref", "edge.ref2"]),
    ]
    bleu, chrf = [], []
    for hyp, refs in pairs:
        for tok in ["13a", "intl", "zh", "char", "none"]:
            bleu.append(bleu_entry(hyp, refs, tokenize=tok))
        bleu.append(bleu_entry(hyp, refs, lowercase=True))
        for smooth in ["floor", "add-k", "none"]:
            bleu.append(bleu_entry(hyp, refs, smooth_method=smooth))
        bleu.append(bleu_entry(hyp, refs, smooth_method="floor", smooth_value=0.5))
        for word_order in [0, 2]:
            chrf.append(chrf_entry(hyp, refs, word_order=word_order))
        chrf.append(chrf_entry(hyp, refs, word_order=2, lowercase=True))
    sentence = [
        sentence_entry("edge.hyp", ["edge.ref"], "bleu"),
        sentence_entry("edge.hyp", ["edge.ref", "edge.ref2"], "bleu", tokenize="intl"),
        sentence_entry("tico.fr.shuf", ["tico.fr"], "bleu"),
        sentence_entry("edge.hyp", ["edge.ref"], "chrf", word_order=2),
        sentence_entry("flores.deu.shuf", ["flores.deu"], "chrf"),
    ]
    rouge = []
    for hyp, refs in [
        ("scitldr.lead", ["scitldr.ref1"]),
        ("scitldr.lead2", ["scitldr.ref1"]),
        ("scitldr.lead2", ["scitldr.ref1", "scitldr.ref2"]),
        ("edge.hyp", ["edge.ref"]),
        ("flores.deu.shuf", ["flores.deu"]),
    ]:
        for stemmer in [False, True]:
            rouge.append(rouge_entry(hyp, refs, stemmer))
    versions = {"sacrebleu": sacrebleu.__version__, "rouge_score": "0.1.2", "nltk": nltk.__version__}
    golden = {"versions": versions, "bleu": bleu, "chrf": chrf, "sentence": sentence, "rouge": rouge}
    (here / "golden.json").write_text(json.dumps(golden, ensure_ascii=False) + "\n")
    print(f"{len(bleu)} BLEU, {len(chrf)} chrF, {len(sentence)} sentence-level, {len(rouge)} ROUGE cases")


if __name__ == "__main__":
    main()
