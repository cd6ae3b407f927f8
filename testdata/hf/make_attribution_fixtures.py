"""Token attributions of the tiny fixture models by captum, for `slm explain tokens` parity tests.

    /tmp/torch-venv/bin/python testdata/hf/make_attribution_fixtures.py   # torch 2.15, transformers 5.24, captum

The score is slm's: the log-probability of each token of a target text after the input, under teacher
forcing (the target follows the input unchanged); a perturbed input token becomes the pad token. captum
attributes it with FeatureAblation (occlusion, one token at a time), LayerGradientXActivation and
LayerIntegratedGradients on the token-embedding layer (input x gradient, and integrated gradients with the
pad token's embedding as baseline, 32 Gauss-Legendre steps: captum's default rule) and ShapleyValues
(exact, all permutations). Embedding-layer attributions are summed over the hidden dimension; only the
input positions are kept (the target's positions are identical in input and baseline).

Writes testdata/hf/attribution_expected.json.
"""
import json
import pathlib

import torch
import transformers
from captum.attr import (FeatureAblation, LayerGradientXActivation, LayerIntegratedGradients,
                         ShapleyValues)

HERE = pathlib.Path(__file__).resolve().parent
CASES = [("llama", "ROMEO: O", " speak"), ("gpt2", "KING:", " No")]


def main():
    out = {}
    for name, text, target_text in CASES:
        d = HERE / name / "model"
        tok = transformers.PreTrainedTokenizerFast.from_pretrained(d)
        model = transformers.AutoModelForCausalLM.from_pretrained(d).eval()
        ids = tok(text, add_special_tokens=False, return_tensors="pt").input_ids
        target = tok(target_text, add_special_tokens=False, return_tensors="pt").input_ids
        n, m = ids.shape[1], target.shape[1]
        pad = tok.convert_tokens_to_ids("<|pad|>")

        def forward(inp):
            full = torch.cat([inp, target.expand(inp.shape[0], m)], dim=1)
            logp = torch.log_softmax(model(full).logits[:, n - 1:n - 1 + m], dim=-1)
            return logp.gather(2, target.expand(inp.shape[0], m).unsqueeze(-1)).squeeze(-1)  # [rows, m]

        embed = model.get_input_embeddings()
        baseline = torch.full_like(ids, pad)
        case = {"text": text, "target_text": target_text, "ids": ids[0].tolist(), "target": target[0].tolist(),
                "scores": forward(ids)[0].tolist(), "baseline_scores": forward(baseline)[0].tolist()}
        methods = {"occlusion": [], "input-x-gradient": [], "integrated-gradients": [], "kernel-shap": []}
        for j in range(m):
            fa = FeatureAblation(forward).attribute(ids, baselines=pad, target=j)
            methods["occlusion"].append(fa[0].tolist())
            gx = LayerGradientXActivation(forward, embed).attribute(ids, target=j)
            methods["input-x-gradient"].append(gx[0, :n].sum(-1).tolist())
            ig = LayerIntegratedGradients(forward, embed).attribute(ids, baselines=baseline, target=j, n_steps=32)
            methods["integrated-gradients"].append(ig[0, :n].sum(-1).tolist())
            sv = ShapleyValues(forward).attribute(ids, baselines=pad, target=j, perturbations_per_eval=64)
            methods["kernel-shap"].append(sv[0].tolist())
        case["attributions"] = methods
        out[name] = case
    (HERE / "attribution_expected.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
