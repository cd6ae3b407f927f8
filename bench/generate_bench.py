"""Generation speed of slm against PyTorch (transformers on CPU), side by side in one run, 2 threads, f32,
greedy, the same prompt and number of new tokens:

- SmolLM2-135M-Instruct: slm's import of the Q4_1 GGUF (dequantized to f32) and transformers' load of the
  same GGUF (also dequantized to f32);
- a tiny GPT: the final/ model of recipes/shakespeare-char.toml, which transformers loads as GPT2LMHeadModel.

Reports prompt processing (prefill) and decoding tokens/s and peak memory of each, and slm's throughput on a
file of prompts with and without dynamic batching.

    python3 bench/generate_bench.py      # needs torch + transformers + gguf (bench/.venv-torch is used)
"""
import json
import os
import pathlib
import re
import resource
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
NEW = 64


def slm_generate(model, prompt, new=NEW):
    out = subprocess.run(["/usr/bin/time", "-v", "slm", "generate", "--model", str(model), "--prompt", prompt,
                          "--max-new-tokens", str(new)], cwd=ROOT, capture_output=True, text=True,
                         env=dict(os.environ, RAYON_NUM_THREADS="2"), check=True)
    m = re.search(r"prompt: (\d+) tokens in [\d.]+ s \(([\d.]+) tokens/s\); generation: (\d+) tokens in [\d.]+ s "
                  r"\(([\d.]+) tokens/s\)", out.stderr)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
    return {"prompt_tokens": int(m.group(1)), "prefill_tok_s": float(m.group(2)),
            "new_tokens": int(m.group(3)), "decode_tok_s": float(m.group(4)),
            "peak_rss_mb": rss / 1024}


def torch_generate(load, prompt, new=NEW):
    """Runs in a child process so that its peak memory is its own."""
    code = f"""
import json, resource, time, torch, transformers
torch.set_num_threads(2)
model, tok = {load}
model = model.eval()
ids = tok({prompt!r}, return_tensors="pt", add_special_tokens=False).input_ids
with torch.no_grad():
    model(ids)
    t = time.perf_counter(); model(ids); prefill = time.perf_counter() - t
    t = time.perf_counter()
    out = model.generate(ids, max_new_tokens={new}, min_new_tokens={new}, do_sample=False)
    total = time.perf_counter() - t
new = out.shape[1] - ids.shape[1]
print(json.dumps({{"prompt_tokens": ids.shape[1], "prefill_tok_s": ids.shape[1] / prefill, "new_tokens": new,
                  "decode_tok_s": new / max(total - prefill, 1e-9),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def batching(model, prompts):
    path = ROOT / "bench" / ".gen-prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    result = {}
    for b in [1, 8]:
        out = subprocess.run(["slm", "generate", "--model", str(model), "--chat", "--input", str(path), "--out",
                              str(path.with_suffix(f".{b}.out")), "--force", "--batch-size", str(b),
                              "--max-new-tokens", "32"], cwd=ROOT, capture_output=True, text=True, check=True)
        result[f"batch_{b}_tok_s"] = float(re.search(r"\(([\d.]+) tokens/s", out.stderr).group(1))
    return result


def main():
    smol = ROOT / "models" / "smollm2"
    gguf_dir = pathlib.Path(os.environ.get("SLM_MODELS_DIR", ROOT.parent / "shared" / "models")) / "smollm2-135m-instruct"
    if not smol.exists():
        subprocess.run(["slm", "import", str(gguf_dir / "SmolLM2-135M-Instruct.Q4_1.gguf"), "--out", str(smol)],
                       check=True)
    prompt = (ROOT / "datasets/tinyshakespeare/input.txt").read_text()[:1500]
    load_smol = (f"(transformers.AutoModelForCausalLM.from_pretrained({str(gguf_dir)!r}, "
                 f"gguf_file='SmolLM2-135M-Instruct.Q4_1.gguf', dtype=torch.float32), "
                 f"transformers.AutoTokenizer.from_pretrained({str(gguf_dir)!r}, gguf_file='SmolLM2-135M-Instruct.Q4_1.gguf'))")
    results = {"smollm2": {"slm": slm_generate(smol, prompt), "torch": torch_generate(load_smol, prompt)}}
    tiny = ROOT / "runs" / "shakespeare-char" / "final"
    if tiny.exists():
        load_tiny = (f"(transformers.AutoModelForCausalLM.from_pretrained({str(tiny)!r}), "
                     f"transformers.AutoTokenizer.from_pretrained({str(tiny)!r}))")
        # The tiny model's context is 64 positions: 6 prompt tokens and 48 new ones.
        results["tiny_gpt"] = {"slm": slm_generate(tiny, "ROMEO:\n", 48), "torch": torch_generate(load_tiny, "ROMEO:\n", 48)}
    questions = ["What is the capital of France?", "Name three primary colours.", "What is 12 times 12?",
                 "Write a haiku about the sea.", "Who wrote Hamlet?", "Explain photosynthesis in one sentence.",
                 "What is the boiling point of water?", "Give a synonym for happy.", "What does CPU stand for?",
                 "Translate 'good morning' into French.", "What is the largest planet?", "Define gravity.",
                 "How many days are in a leap year?", "What colour is the sky?", "Name a mammal that flies.",
                 "What is the square root of 81?"]
    results["smollm2_file_16_prompts"] = batching(smol, questions)
    for name, r in results.items():
        if "slm" in r:
            r["decode_ratio_slm_over_torch"] = r["slm"]["decode_tok_s"] / r["torch"]["decode_tok_s"]
            r["prefill_ratio_slm_over_torch"] = r["slm"]["prefill_tok_s"] / r["torch"]["prefill_tok_s"]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
