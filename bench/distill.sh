#!/usr/bin/env bash
# recipes/dolly-distill.toml twice with the same seed, data order and steps: distilled from SmolLM2-135M-
# Instruct (alpha 0.5, T 2) and on the labels alone (alpha 0), then both validation curves in one plot.
# Results: runs/dolly-distill*/metrics.csv, docs/img/distill.png.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d models/smollm2 ] || slm import "${SLM_MODELS_DIR:-../shared/models}/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf" --out models/smollm2
slm train recipes/dolly-distill.toml --set distill.alpha=0 --out runs/dolly-labels --force --json | tee runs/labels.json
slm train recipes/dolly-distill.toml --force --json | tee runs/distill.json
slm plot runs/dolly-distill/metrics.csv runs/dolly-labels/metrics.csv --out docs/img/distill.png
