"""`slm explain tokens`: speed against captum and faithfulness of each method, one run.

1. Speed, side by side, 2 threads: integrated gradients on SmolLM2-135M-Instruct (slm's import of the
   shipped Q4_1 GGUF, f32; transformers loads the same GGUF, also f32), a 64-token input, 32 Gauss-Legendre
   steps, the log-probability of the next token as the score, pad-token baseline. slm is timed end to end
   (process start, model load, attribution, output); captum's LayerIntegratedGradients is timed for the
   attribution alone (its model load is reported beside it).
2. Faithfulness (ERASER comprehensiveness and sufficiency, AOPC over the top 10/20/50% tokens, in the
   score's units), per method, averaged over texts: 100 validation messages of the SMS Spam classifier
   (recipes/sms-spam-classify.toml, trained first if runs/sms-spam-classify/final is missing) and 5
   SmolLM2 prompts (target: the greedy continuation of 4 tokens).

    python3 bench/explain_bench.py [--slm PATH]   # needs torch + transformers + gguf + captum (bench/.venv-torch)

Writes bench/results-explain.json.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".explain"
GGUF = "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
METHODS = ["occlusion", "input-x-gradient", "integrated-gradients", "lime", "kernel-shap"]
PROMPTS = ["The capital of France is", "Water boils at a temperature of", "The largest planet in the solar system is",
           "A haiku has three lines and", "To make a cup of tea, first"]
TEXT64 = ("Photosynthesis is the process by which green plants and some other organisms use sunlight to "
          "synthesize foods from carbon dioxide and water. Photosynthesis in plants generally involves the "
          "green pigment chlorophyll and generates oxygen as a")


def run(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True,
                          env=dict(os.environ, RAYON_NUM_THREADS="2"), **kw)


def torch_python():
    venv = ROOT / "bench" / ".venv-torch" / "bin" / "python"
    return str(venv) if venv.exists() else os.environ.get("TORCH_PYTHON", sys.executable)


CAPTUM = r"""
import json, sys, time, torch, transformers
from captum.attr import LayerIntegratedGradients
torch.set_num_threads(2)
gguf_dir, gguf_file, text, pad_text = sys.argv[1:5]
t = time.perf_counter()
tok = transformers.AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_file)
model = transformers.AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, torch_dtype=torch.float32).eval()
load = time.perf_counter() - t
ids = tok(text, add_special_tokens=False, return_tensors="pt").input_ids[:, :64]
pad = tok.convert_tokens_to_ids(pad_text)
with torch.no_grad():
    target = int(model(ids).logits[0, -1].argmax())
def forward(inp):
    return torch.log_softmax(model(inp).logits[:, -1], dim=-1)[:, target]
lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
t = time.perf_counter()
attr, delta = lig.attribute(ids, baselines=torch.full_like(ids, pad), n_steps=32, return_convergence_delta=True)
secs = time.perf_counter() - t
print(json.dumps({"tokens": ids.shape[1], "load_s": load, "attribute_s": secs, "delta": float(delta[0]),
                  "target": tok.decode([target])}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slm", default="slm")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    models = pathlib.Path(os.environ.get("SLM_MODELS_DIR", ROOT.parent / "shared" / "models"))
    smollm2 = WORK / "smollm2"
    if not smollm2.exists():
        run([args.slm, "import", str(models / GGUF), "--out", str(smollm2)])
    results = {}

    # 1. Speed: slm end to end against captum's attribution alone.
    t = time.perf_counter()
    out = run([args.slm, "explain", "tokens", "--model", str(smollm2), "--text", TEXT64, "--method",
               "integrated-gradients", "--steps", "32", "--max-new-tokens", "1", "--json"])
    slm_s = time.perf_counter() - t
    slm = json.loads(out.stdout)
    pad = slm["baseline_token"]
    cap = json.loads(run([torch_python(), "-c", CAPTUM, str((models / GGUF).parent), (models / GGUF).name, TEXT64,
                          pad]).stdout)
    results["speed"] = {"tokens": len(slm["input_tokens"]), "slm_s": round(slm_s, 2),
                        "slm_delta": slm["convergence_delta"][0], "captum": cap,
                        "ratio": round(cap["attribute_s"] / slm_s, 2)}
    print(results["speed"], flush=True)

    # 2. Faithfulness per method.
    classifier = ROOT / "runs" / "sms-spam-classify" / "final"
    if not classifier.exists():
        run([args.slm, "train", "recipes/sms-spam-classify.toml"])
    val = [json.loads(l) for l in (ROOT / "runs/sms-spam-classify/split/val.jsonl").read_text().splitlines()][:100]
    texts = WORK / "sms-val100.jsonl"
    texts.write_text("".join(json.dumps({"text": r["text"]}) + "\n" for r in val))
    prompts = WORK / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"text": p}) + "\n" for p in PROMPTS))
    faith = {}
    for name, model, inputs, extra in [("sms-spam classifier", classifier, texts, []),
                                       ("SmolLM2-135M", smollm2, prompts, ["--max-new-tokens", "4"])]:
        faith[name] = {}
        for method in METHODS:
            t = time.perf_counter()
            lines = run([args.slm, "explain", "tokens", "--model", str(model), "--input", str(inputs), "--method",
                         method] + extra).stdout.splitlines()
            secs = time.perf_counter() - t
            rows = [json.loads(l)["faithfulness"] for l in lines]
            faith[name][method] = {
                "comprehensiveness": round(statistics.mean(r["comprehensiveness"] for r in rows), 4),
                "sufficiency": round(statistics.mean(r["sufficiency"] for r in rows), 4),
                "texts": len(rows), "seconds": round(secs, 1)}
            print(name, method, faith[name][method], flush=True)
    results["faithfulness"] = faith
    (ROOT / "bench" / "results-explain.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
