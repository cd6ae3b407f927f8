"""SmolLM2-135M-Instruct parity fixture: transformers (with gguf) loads the same GGUF that `slm import`
reads and records
- token ids of ~300 real lines (testdata/tokenizer/lines.jsonl: English, code, Chinese, Japanese,
  emoji, whitespace runs; TinyShakespeare lines; MBPP code; FLORES French and German sentences);
- logits of a chat prompt: the first 512 vocabulary entries and the 10 largest of every position.

    python make_fixture.py     (SLM_MODELS_DIR or ../shared/models must hold the GGUF)
"""
import json
import os
import pathlib

import torch
import transformers

HERE = pathlib.Path(__file__).parent
ROOT = HERE.parents[1]
MODELS = pathlib.Path(os.environ.get("SLM_MODELS_DIR", ROOT.parent / "shared" / "models"))
GGUF_DIR, GGUF = MODELS / "smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf"


def lines():
    out = [json.loads(l)["text"] for l in open(ROOT / "testdata/tokenizer/lines.jsonl")]
    shakespeare = [l for l in (ROOT / "datasets/tinyshakespeare/input.txt").read_text().split("\n") if l.strip()]
    out += shakespeare[:100]
    out += [json.loads(l)["code"] for l in list(open(ROOT / "datasets/mbpp/mbpp.jsonl"))[:60]]
    for lang in ["fra_Latn", "deu_Latn"]:
        out += (ROOT / f"datasets/flores200_devtest/{lang}.devtest").read_text().split("\n")[:40]
    return [l for l in out if l]


def main():
    tok = transformers.AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file=GGUF)
    texts = lines()
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    model = transformers.AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file=GGUF, dtype=torch.float32).eval()
    prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([prompt_ids])).logits[0]
    top = torch.topk(logits, 10, dim=-1)
    json.dump({
        "texts": texts, "ids": ids, "prompt": prompt, "prompt_ids": prompt_ids,
        "head_logits": logits[:, :512].tolist(), "top_ids": top.indices.tolist(), "top_logits": top.values.tolist(),
        "transformers": transformers.__version__, "torch": torch.__version__,
    }, open(HERE / "expected.json", "w"))
    print(len(texts), "lines,", sum(map(len, ids)), "tokens;", len(prompt_ids), "prompt tokens")


if __name__ == "__main__":
    main()
