"""Fixtures for slm's parity tests against Hugging Face transformers and PyTorch.

For each family (GPT-2 with tied embeddings and fused QKV; Llama with grouped-query attention and an untied
head; Qwen2, a Llama-family model with GQA 4:1, QKV biases and a tied head; Phi-3 with fused qkv and
gate/up matrices) this writes a tiny random checkpoint with `save_pretrained` and a character tokenizer, then records:
- `logits`: transformers' logits of the first 16 training tokens (slm-model's forward parity test);
- `losses`: the losses of 6 AdamW steps of a training run that slm-train's recipe reproduces exactly
  (sequential blocks, batch 4 x accumulation 2, warmup + cosine, global-norm clipping, decoupled weight
  decay on matrices only), and the same run's parameters after the last step are not stored (size).

Run once with torch and transformers installed (the tests themselves need no Python):
    python make_fixtures.py
"""
import json
import math
import pathlib

import torch
import torch.nn.functional as F
import transformers
from tokenizers import Regex, Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Split

HERE = pathlib.Path(__file__).parent
ROOT = HERE.parents[1]
TEXT = (ROOT / "datasets/tinyshakespeare/input.txt").read_text()[:6000]
SPECIALS = ["<|endoftext|>", "<|pad|>", "<|unk|>"]

# The training run (mirrored by crates/slm-train/tests/torch_parity.rs).
RUN = dict(block=16, batch=4, accum=2, steps=6, lr=1e-2, warmup=2, min_lr=1e-3, beta1=0.9, beta2=0.95,
           eps=1e-8, weight_decay=0.1, clip=0.5, val_fraction=0.1)


def char_tokenizer(text):
    vocab = {t: i for i, t in enumerate(SPECIALS)}
    for ch in sorted(set(text)):
        vocab.setdefault(ch, len(vocab))
    tok = Tokenizer(WordLevel(vocab, unk_token="<|unk|>"))
    tok.pre_tokenizer = Split(Regex(r"[\s\S]"), behavior="isolated")
    return tok


def lr_at(step, total):
    """slm's schedule: linear warmup (step 1 = lr/warmup), then cosine to min_lr at `total`."""
    if step <= RUN["warmup"]:
        return RUN["lr"] * step / RUN["warmup"]
    progress = (min(step, total) - RUN["warmup"]) / (total - RUN["warmup"])
    return RUN["min_lr"] + (RUN["lr"] - RUN["min_lr"]) * 0.5 * (1 + math.cos(math.pi * progress))


def train(model, ids):
    T, B, A = RUN["block"], RUN["batch"], RUN["accum"]
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": RUN["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=RUN["lr"], betas=(RUN["beta1"], RUN["beta2"]), eps=RUN["eps"])
    blocks = [ids[i * T: i * T + T + 1] for i in range((len(ids) - T) // T)]
    losses, cursor = [], 0
    for step in range(1, RUN["steps"] + 1):
        opt.zero_grad()
        total_targets = B * A * T
        loss_value = 0.0
        for _ in range(A):
            batch = torch.tensor(blocks[cursor: cursor + B])
            cursor += B
            logits = model(batch[:, :-1]).logits
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="sum")
            loss = loss / total_targets
            loss.backward()
            loss_value += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), RUN["clip"])
        for g in opt.param_groups:
            g["lr"] = lr_at(step, RUN["steps"])
        opt.step()
        losses.append(loss_value)
    return losses


def make(name, config):
    out = HERE / name
    model_dir = out / "model"
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config).float()
    model.save_pretrained(model_dir, safe_serialization=True)
    tok = char_tokenizer(TEXT)
    tok.save(str(model_dir / "tokenizer.json"))
    (model_dir / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>", "pad_token": "<|pad|>",
         "bos_token": "<|endoftext|>", "unk_token": "<|unk|>"}, indent=2) + "\n")
    cut = int((1.0 - RUN["val_fraction"]) * len(TEXT))
    ids = tok.encode(TEXT[:cut]).ids + [tok.token_to_id("<|endoftext|>")]
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor([ids[:16]])).logits[0]
    model.train()
    losses = train(model, ids)
    expected = {"input_ids": ids[:16], "logits": logits.flatten().tolist(), "vocab": logits.shape[-1],
                "losses": losses, "run": RUN, "transformers": transformers.__version__, "torch": torch.__version__}
    (out / "expected.json").write_text(json.dumps(expected) + "\n")
    print(name, "losses", [round(x, 5) for x in losses])


def main():
    (HERE / "data.txt").write_text(TEXT)
    vocab = len(char_tokenizer(TEXT).get_vocab())
    make("gpt2", transformers.GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                         resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                         bos_token_id=0, eos_token_id=0))
    make("llama", transformers.LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                                           num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                           max_position_embeddings=64, rms_norm_eps=1e-5, rope_theta=10000.0,
                                           tie_word_embeddings=False, bos_token_id=0, eos_token_id=0,
                                           pad_token_id=1))
    # Qwen2: grouped-query attention with biases on q/k/v and a tied head.
    make("qwen2", transformers.Qwen2Config(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                                           num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
                                           max_position_embeddings=64, rms_norm_eps=1e-6, rope_theta=1000000.0,
                                           tie_word_embeddings=True, bos_token_id=0, eos_token_id=0,
                                           pad_token_id=1))
    # Phi-3: fused qkv_proj and gate_up_proj matrices, GQA 4:2, untied head.
    make("phi3", transformers.Phi3Config(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                         max_position_embeddings=64, original_max_position_embeddings=64,
                                         rms_norm_eps=1e-5, bos_token_id=0, eos_token_id=0, pad_token_id=1))


if __name__ == "__main__":
    main()
