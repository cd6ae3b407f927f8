"""Attention weights of the tiny fixture models as transformers computes them (eager attention,
`output_attentions=True`), for slm's `Transformer::attention_weights` and `slm explain attention`.

    /tmp/torch-venv/bin/python testdata/hf/make_attention_fixtures.py   # torch 2.15, transformers 5.24

Writes testdata/hf/attention_expected.json: per model, the token ids and, per layer, the
`[heads][query][key]` weights of the first (only) batch row.
"""
import json
import pathlib

import torch
import transformers

HERE = pathlib.Path(__file__).resolve().parent
TEXTS = {"gpt2": "ROMEO:\nWhat say you?", "llama": "KING:\nO, speak!", "qwen2": "All: We know't.",
         "phi3": "Speak, speak."}

out = {}
for name, text in TEXTS.items():
    d = HERE / name / "model"
    tok = transformers.PreTrainedTokenizerFast.from_pretrained(d)
    model = transformers.AutoModelForCausalLM.from_pretrained(d, attn_implementation="eager").eval()
    ids = tok(text, add_special_tokens=False, return_tensors="pt").input_ids
    with torch.no_grad():
        att = model(ids, output_attentions=True).attentions
    out[name] = {"text": text, "ids": ids[0].tolist(),
                 "attentions": [[[[round(x, 7) for x in row] for row in head] for head in layer[0].tolist()]
                                for layer in att]}
(HERE / "attention_expected.json").write_text(json.dumps(out) + "\n")
print({k: (len(v["ids"]), len(v["attentions"]), len(v["attentions"][0])) for k, v in out.items()})
