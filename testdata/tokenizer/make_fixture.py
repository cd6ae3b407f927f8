"""Makes the tokenizer parity fixture: Python `tokenizers` must load the tokenizer.json files that
`slm tokenizer train` wrote and encode every line of lines.jsonl to the same ids as slm.

    slm tokenizer train datasets/tinyshakespeare/input.txt --kind bpe --vocab-size 2048 --out testdata/tokenizer/bpe.json
    slm tokenizer train datasets/tinyshakespeare/input.txt --kind char --out testdata/tokenizer/char.json
    python3 -m pip install tokenizers==0.23.3
    python3 testdata/tokenizer/make_fixture.py

Writes expected.json: {"bpe": [[ids...] per line], "char": [...]}, encoded without special tokens added.
"""
import json
import pathlib

from tokenizers import Tokenizer

here = pathlib.Path(__file__).parent
root = here.parent.parent
lines = []
shakespeare = (root / "datasets/tinyshakespeare/input.txt").read_text().splitlines()
lines += [l for l in shakespeare[:400] if l.strip()][:40]
for row in (root / "datasets/mbpp/mbpp.jsonl").read_text().splitlines()[:10]:
    lines.append(json.loads(row)["code"])
lines += [
    "你好，世界！这是一个测试。",
    "日本語のテキストも試します",
    "emoji: 🙂🚀👩‍👩‍👧 end",
    "tabs\tand   runs of    spaces\n\nand newlines\r\n",
    "   leading and trailing   ",
    "<|endoftext|>special<|pad|> tokens inline<|endoftext|>",
    "Ünïcödé façade naïve café (NFD: cafe\u0301)",
    "",
    "x" * 300,
    "def f(x):\n    return {'a': [1, 2.5e-3, None]}  # comment",
]
(here / "lines.jsonl").write_text("".join(json.dumps({"text": l}, ensure_ascii=False) + "\n" for l in lines))
expected = {}
for kind in ["bpe", "char"]:
    tok = Tokenizer.from_file(str(here / f"{kind}.json"))
    expected[kind] = [tok.encode(l, add_special_tokens=False).ids for l in lines]
(here / "expected.json").write_text(json.dumps(expected) + "\n")
print(f"{len(lines)} lines")
