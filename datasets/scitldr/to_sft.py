"""Turns SciTLDR (abstract sentences -> TLDRs) into prompt/completion JSONL for `slm train` and
`slm generate`: the prompt is the abstract in SmolLM2's chat format (ChatML), the completion the first TLDR.

    python3 datasets/scitldr/to_sft.py      # writes sft_train.jsonl, sft_test.jsonl beside this script
"""
import json
import pathlib

HERE = pathlib.Path(__file__).parent


def prompt(abstract):
    return ("<|im_start|>user\nSummarize this abstract in one sentence.\n\n" + abstract
            + "<|im_end|>\n<|im_start|>assistant\n")


for split, name in [("train", "sft_train.jsonl"), ("test", "sft_test.jsonl")]:
    with open(HERE / f"{split}.jsonl") as f, open(HERE / name, "w") as out:
        for line in f:
            r = json.loads(line)
            abstract = " ".join(r["source"])
            out.write(json.dumps({"prompt": prompt(abstract), "completion": r["target"][0]}) + "\n")
