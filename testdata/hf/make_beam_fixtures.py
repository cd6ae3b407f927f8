"""Beam-search fixtures: transformers' `generate(num_beams=...)`, for slm's beam search to reproduce token for
token, on
- the tiny random GPT-2 and Llama checkpoints of this directory (written by make_fixtures.py):
  testdata/hf/beam_expected.json;
- SmolLM2-135M-Instruct, from the same GGUF `slm import` reads (its distributions are peaked, where the
  random models' are nearly flat, so when the search stops changes what it returns):
  testdata/smollm2/beam_expected.json (SLM_MODELS_DIR or ../shared/models must hold the GGUF).

Each case fixes a prompt, a stop token, the beam width, the length penalty and transformers'
`early_stopping` (True, False or "never"). The stop token is a token of the greedy continuation, so that
hypotheses finish at different lengths and the length normalisation and stopping rules decide the winner.
Every case records all `beams` finished hypotheses with their scores (`num_return_sequences`), so that
when the search stops matters too; a case is kept only if neighbouring scores differ by far more than
float noise, so that the comparison tests the algorithm, not rounding.

Run with torch, transformers and gguf installed (the tests need no Python):
    python make_beam_fixtures.py
"""
import json
import os
import pathlib

import torch
import transformers

HERE = pathlib.Path(__file__).parent
ROOT = HERE.parents[1]
MODELS = pathlib.Path(os.environ.get("SLM_MODELS_DIR", ROOT.parent / "shared" / "models"))
SETTINGS = [  # (beams, length_penalty, early_stopping, max_new_tokens)
    (4, 1.0, False, 12),
    (4, 1.0, True, 12),
    (3, 0.0, "never", 10),
    (5, 2.0, "never", 12),
    (2, -1.0, False, 8),
    (6, 0.5, True, 14),
    (3, 1.0, True, 10),
    (4, 0.0, False, 12),
    (4, 1.5, False, 16),
    (2, 1.0, "never", 6),
    (3, -0.5, "never", 10),
    (4, 3.0, False, 16),
    (2, 2.0, False, 16),
    (3, 2.5, True, 16),
    (2, -2.0, "never", 12),
]


def cases_of(model, family, prompts, stop_positions, settings):
    """Every (prompt, stop token, setting) case whose finished scores are well apart."""
    cases = []
    for ids in prompts:
        # An explicit mask: without one, transformers masks every prompt token equal to the pad token.
        inputs = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
        with torch.no_grad():
            greedy = model.generate(**inputs, max_new_tokens=max(stop_positions) + 1, do_sample=False,
                                    eos_token_id=None, pad_token_id=1)[0, len(ids):].tolist()
        for eos in dict.fromkeys(greedy[i] for i in stop_positions):
            for beams, penalty, early, max_new in settings:
                with torch.no_grad():
                    out = model.generate(**inputs, max_new_tokens=max_new, num_beams=beams, do_sample=False,
                                         length_penalty=penalty, early_stopping=early, eos_token_id=eos,
                                         pad_token_id=1, num_return_sequences=beams,
                                         return_dict_in_generate=True, output_scores=True)
                hypotheses = []
                for seq in out.sequences[:, len(ids):].tolist():
                    # Drop the stop token and the padding after it.
                    hypotheses.append(seq[: seq.index(eos)] if eos in seq else seq)
                scores = out.sequences_scores.tolist()
                gaps = [a - b for a, b in zip(scores, scores[1:])]
                if min(scores) < -1e8 or (gaps and min(gaps) < 1e-4):
                    continue
                case = {"family": family, "prompt_ids": ids, "stop": eos, "beams": beams,
                        "length_penalty": penalty, "early_stopping": early, "max_new_tokens": max_new,
                        "hypotheses": hypotheses, "scores": scores}
                if case not in cases:
                    cases.append(case)
    return cases


def write(path, cases):
    path.write_text(json.dumps(
        {"cases": cases, "transformers": transformers.__version__, "torch": torch.__version__}, indent=1) + "\n")
    print(path, len(cases), "cases; best stopped early:",
          sum(len(c["hypotheses"][0]) < c["max_new_tokens"] for c in cases))


def main():
    cases = []
    texts = ["To be, or", "KING HENRY", "First Citizen:\nWe", "O, ", "What say", "Now is the"]
    for family in ["gpt2", "llama"]:
        model_dir = HERE / family / "model"
        model = transformers.AutoModelForCausalLM.from_pretrained(model_dir).float().eval()
        tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(model_dir / "tokenizer.json"))
        cases += cases_of(model, family, [tok(t)["input_ids"] for t in texts], [1, 3, 5], SETTINGS)
    write(HERE / "beam_expected.json", cases)

    gguf_dir, gguf = MODELS / "smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf"
    tok = transformers.AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf)
    model = transformers.AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf, dtype=torch.float32).eval()
    texts = ["The capital of France is", "def fibonacci(n):\n", "Once upon a time, there was a",
             "<|im_start|>user\nName three colours.<|im_end|>\n<|im_start|>assistant\n"]
    prompts = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    write(ROOT / "testdata/smollm2/beam_expected.json",
          cases_of(model, "smollm2", prompts, [2, 6], SETTINGS[::3]))


if __name__ == "__main__":
    main()
