"""Training speed of slm against PyTorch, side by side in one run, on recipes/shakespeare-char.toml's model
(GPT-2 family: 4 layers, 4 heads, d 128, context 64, batch 12, char vocabulary, AdamW, fp32, 2 threads).

    python3 bench/train_bench.py                 # speed: 200 steps each, tokens/s and the ratio
    python3 bench/train_bench.py --full          # full 2000-step runs of both and their validation losses
    python3 bench/train_bench.py --full --seeds 1337,1,2,3   # the same for several seeds, with means
    python3 bench/train_bench.py --full --torch-no-bias      # PyTorch as nanoGPT's bias-free variant

The script installs torch into its own venv (bench/.venv-torch) when it is missing. The PyTorch model is
written like nanoGPT (fused attention via scaled_dot_product_attention, LayerNorm and Linear with bias to
match slm's GPT-2 blocks, tied head); data, schedule and optimizer settings are the recipe's.
"""
import argparse
import json
import math
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".venv-torch"


def ensure_torch():
    try:
        import torch  # noqa: F401
        return
    except ImportError:
        pass
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
        subprocess.check_call([str(py), "-m", "pip", "install", "-q", "torch", "numpy"])
    os.execv(str(py), [str(py)] + sys.argv)


def torch_run(steps, full, seed, bias=True):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(2)
    torch.manual_seed(seed)
    text = (ROOT / "datasets/tinyshakespeare/input.txt").read_text()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(data))
    train, val = data[:n], data[n:]
    T, B, D, L, H = 64, 12, 128, 4, 4
    V = len(chars) + 3  # slm's char tokenizer adds <|endoftext|>, <|pad|>, <|unk|>

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(D, bias=bias), nn.LayerNorm(D, bias=bias)
            self.c_attn, self.c_proj = nn.Linear(D, 3 * D, bias=bias), nn.Linear(D, D, bias=bias)
            self.c_fc, self.mlp_proj = nn.Linear(D, 4 * D, bias=bias), nn.Linear(4 * D, D, bias=bias)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(D, dim=2)
            q, k, v = (y.view(b, t, H, D // H).transpose(1, 2) for y in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, D)
            x = x + self.c_proj(y)
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(V, D), nn.Embedding(T, D)
            self.h = nn.ModuleList(Block() for _ in range(L))
            self.ln_f = nn.LayerNorm(D, bias=bias)
            for name, p in self.named_parameters():
                if p.dim() >= 2:
                    std = 0.02 / math.sqrt(2 * L) if name.endswith(("c_proj.weight", "mlp_proj.weight")) else 0.02
                    nn.init.normal_(p, 0.0, std)
                elif name.endswith("bias"):
                    nn.init.zeros_(p)

        def forward(self, idx):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for blk in self.h:
                x = blk(x)
            return self.ln_f(x) @ self.wte.weight.T

    model = GPT()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99), eps=1e-8)
    total = 2000

    def lr_at(step):
        if step <= 100:
            return 1e-3 * step / 100
        p = (min(step, total) - 100) / (total - 100)
        return 1e-4 + (1e-3 - 1e-4) * 0.5 * (1 + math.cos(math.pi * p))

    def batch(src):
        ix = torch.randint(len(src) - T - 1, (B,))
        return torch.stack([src[i:i + T] for i in ix]), torch.stack([src[i + 1:i + T + 1] for i in ix])

    times = []
    for step in range(1, steps + 1):
        t0 = time.perf_counter()
        x, y = batch(train)
        loss = F.cross_entropy(model(x).view(-1, V), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        opt.step()
        times.append(time.perf_counter() - t0)
    result = {"tokens_per_s": B * T / (sum(times[10:]) / len(times[10:])), "final_train_loss": loss.item()}
    if full:
        model.eval()
        with torch.no_grad():
            blocks = [(val[i:i + T], val[i + 1:i + T + 1]) for i in range(0, len(val) - T - 1, T)]
            losses = [F.cross_entropy(model(torch.stack([b[0] for b in blocks[i:i + B]])).view(-1, V),
                                      torch.stack([b[1] for b in blocks[i:i + B]]).view(-1), reduction="sum").item()
                      for i in range(0, len(blocks), B)]
            result["val_loss"] = sum(losses) / (len(blocks) * T)
    return result


def slm_run(steps, seed):
    out = ROOT / "bench" / ".run-shakespeare"
    cmd = ["slm", "train", "recipes/shakespeare-char.toml", "--out", str(out), "--force", "--set", f"seed={seed}",
           "--set", f"train.max_steps={steps}", "--set", "eval.every=1000000", "--set", "checkpoint.every=1000000",
           "--set", "train.log_every=1"]
    env = dict(os.environ, RAYON_NUM_THREADS="2")
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, env=env, capture_output=True)
    wall = time.perf_counter() - t0
    rows = [line.split(",") for line in (out / "metrics.csv").read_text().splitlines()[1:]]
    tps = [float(r[7]) for r in rows if r[2] == "train" and int(r[0]) > 10]
    return {"tokens_per_s": len(tps) / sum(1 / t for t in tps), "wall_s": wall,
            "final_train_loss": float([r for r in rows if r[2] == "train"][-1][3]),
            "val_loss": float([r for r in rows if r[2] == "val"][-1][3])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--full", action="store_true", help="run the recipe's 2000 steps and compare validation losses")
    ap.add_argument("--seeds", default="1337", help="comma-separated seeds (the recipe's is 1337)")
    ap.add_argument("--torch-no-bias", action="store_true",
                    help="PyTorch side without biases in Linear and LayerNorm (nanoGPT's default bias=False)")
    args = ap.parse_args()
    ensure_torch()
    import torch
    steps = 2000 if args.full else args.steps
    runs = []
    for seed in [int(x) for x in args.seeds.split(",")]:
        s = slm_run(steps, seed)
        t = torch_run(steps, args.full, seed, bias=not args.torch_no_bias)
        runs.append({"seed": seed, "slm": s, "torch": t, "ratio_slm_over_torch": s["tokens_per_s"] / t["tokens_per_s"]})
    report = {"steps": steps, "torch_version": torch.__version__, "runs": runs}
    for key in ["tokens_per_s", "val_loss"] if args.full else ["tokens_per_s"]:
        for side in ["slm", "torch"]:
            report[f"mean_{side}_{key}"] = sum(r[side][key] for r in runs) / len(runs)
    report["mean_ratio_slm_over_torch"] = sum(r["ratio_slm_over_torch"] for r in runs) / len(runs)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
