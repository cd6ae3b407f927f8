"""Makes tiny.gguf and expected.json: a two-layer llama model in GGUF with one tensor of every type slm
reads (F32, F16, BF16, Q8_0, Q4_0, Q4_1), written and dequantized by the `gguf` package (llama.cpp's own
Python library), and, when the real SmolLM2 file is present, statistics of its dequantized tensors.

    python3 -m pip install gguf==0.19.0 numpy
    python3 testdata/gguf/make_fixture.py [--models ../shared/models]

The q and k projections are given in Hugging Face row order and written with llama.cpp's permutation, so
expected.json's `hf_rows` lets slm's import prove that it undoes it.
"""
import argparse
import json
import pathlib

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize

here = pathlib.Path(__file__).parent
root = here.parent.parent


def llama_permute(w, n_head):
    # llama.cpp convert_hf_to_gguf.py: LlamaModel.permute
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def stats(x):
    x = np.asarray(x, dtype=np.float64).ravel()
    return {"n": int(x.size), "sum": float(x.sum()), "sumsq": float((x * x).sum()),
            "first": [float(v) for v in x[:8]], "last": [float(v) for v in x[-8:]]}


def make_tiny():
    tok = json.loads((root / "testdata/tokenizer/bpe.json").read_text())
    vocab = tok["model"]["vocab"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    n_vocab, dim, ffn, heads, kv_heads, layers = len(tokens), 32, 64, 4, 2, 2
    w = GGUFWriter(str(here / "tiny.gguf"), "llama")
    w.add_name("slm tiny fixture")
    w.add_block_count(layers)
    w.add_context_length(128)
    w.add_embedding_length(dim)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(n_vocab)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types([3 if t in ("<|endoftext|>", "<|pad|>") else 1 for t in tokens])
    w.add_token_merges(merges)
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)
    w.add_pad_token_id(1)
    w.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    rng = np.random.default_rng(0)
    expected, hf_rows = {}, {}

    def add(name, array, qtype):
        array = array.astype(np.float32)
        if qtype == Q.F32:
            data, raw = array, None
        elif qtype == Q.F16:
            data = array.astype(np.float16)
        elif qtype == Q.BF16:
            data = quantize(array, Q.BF16)
        else:
            data = quantize(array, qtype)
        w.add_tensor(name, data, raw_dtype=qtype if qtype not in (Q.F32, Q.F16) else None)
        back = array if qtype == Q.F32 else (data.astype(np.float32) if qtype == Q.F16 else dequantize(data, qtype))
        expected[name] = {"type": qtype.name, "shape": list(array.shape), **stats(back)}

    add("token_embd.weight", rng.normal(size=(n_vocab, dim)), Q.Q8_0)
    for l in range(layers):
        add(f"blk.{l}.attn_norm.weight", 1 + 0.1 * rng.normal(size=dim), Q.F32)
        add(f"blk.{l}.ffn_norm.weight", 1 + 0.1 * rng.normal(size=dim), Q.F32)
        q_hf = rng.normal(size=(dim, dim)).astype(np.float32)
        k_hf = rng.normal(size=(dim // heads * kv_heads, dim)).astype(np.float32)
        add(f"blk.{l}.attn_q.weight", llama_permute(q_hf, heads), Q.F32)
        add(f"blk.{l}.attn_k.weight", llama_permute(k_hf, kv_heads), Q.F32)
        hf_rows[f"model.layers.{l}.self_attn.q_proj.weight"] = stats(q_hf[:1])
        hf_rows[f"model.layers.{l}.self_attn.k_proj.weight"] = stats(k_hf[:1])
        add(f"blk.{l}.attn_v.weight", rng.normal(size=(dim // heads * kv_heads, dim)), Q.F16)
        add(f"blk.{l}.attn_output.weight", rng.normal(size=(dim, dim)), Q.BF16)
        add(f"blk.{l}.ffn_gate.weight", rng.normal(size=(ffn, dim)), Q.Q4_1)
        add(f"blk.{l}.ffn_up.weight", rng.normal(size=(ffn, dim)), Q.Q4_0)
        add(f"blk.{l}.ffn_down.weight", rng.normal(size=(dim, ffn)), Q.Q8_0)
    add("output_norm.weight", 1 + 0.1 * rng.normal(size=dim), Q.F32)
    add("output.weight", rng.normal(size=(n_vocab, dim)), Q.F16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return {"tensors": expected, "hf_rows": hf_rows}


def smollm(models):
    path = pathlib.Path(models) / "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        return None
    r = GGUFReader(str(path))
    out = {}
    for t in r.tensors:
        if t.name in ("token_embd.weight", "blk.0.attn_q.weight", "blk.29.ffn_down.weight", "output_norm.weight"):
            out[t.name] = {"type": t.tensor_type.name, **stats(dequantize(t.data, t.tensor_type))}
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=str(root.parent / "shared/models"))
    args = ap.parse_args()
    expected = make_tiny()
    expected["smollm2"] = smollm(args.models)
    (here / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print("wrote tiny.gguf and expected.json")
