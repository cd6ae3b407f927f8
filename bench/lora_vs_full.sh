#!/usr/bin/env bash
# LoRA against full fine-tuning of SmolLM2-135M-Instruct on SciTLDR, one after the other on this machine:
# 1. cost: both recipes for $STEPS steps (same data, batches, sequence lengths): trainable parameters,
#    training tokens/s (slm train --json) and peak resident memory (/usr/bin/time -v);
# 2. quality: the LoRA recipe's whole run (40 steps), then greedy TLDRs for the first $N test abstracts and
#    ROUGE (stemmed) against the references, as bench/scitldr_sft.sh does for full fine-tuning.
# Results: bench/.lora/*.json (the measured ones are kept in bench/results-compress.json).
# `bench/lora_vs_full.sh cost` runs the first part only.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-10}
N=${N:-60}
out=bench/.lora
mkdir -p "$out"
[ -d models/smollm2 ] || slm import "${SLM_MODELS_DIR:-../shared/models}/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf" --out models/smollm2
[ -f datasets/scitldr/sft_test.jsonl ] || python3 datasets/scitldr/to_sft.py
for kind in full lora; do
    recipe=recipes/scitldr-smollm2.toml
    [ "$kind" = lora ] && recipe=recipes/scitldr-smollm2-lora.toml
    /usr/bin/time -v slm train "$recipe" --out "$out/run-$kind" --set "train.max_steps=$STEPS" --set "eval.every=1000" \
        --force --json > "$out/$kind.train.json" 2> "$out/$kind.time.log"
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out/$kind.time.log")
    python3 - "$out/$kind.train.json" "$rss" "$kind" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read())
print(json.dumps({"kind": sys.argv[3], "steps": s["steps"], "parameters": s["parameters"],
                  "trainable_parameters": s["trainable_parameters"], "tokens_per_s": round(s["tokens_per_s"], 1),
                  "peak_rss_mb": round(int(sys.argv[2]) / 1024)}))
PY
done | tee "$out/cost.jsonl"
[ "${1:-all}" = cost ] && exit 0
slm train recipes/scitldr-smollm2-lora.toml --force 2> "$out/lora-full-run.log"
head -n "$N" datasets/scitldr/sft_test.jsonl > "$out/test.jsonl"
rm -f "$out/lora.jsonl"
slm generate --model runs/scitldr-smollm2-lora/final --input "$out/test.jsonl" --out "$out/lora.jsonl" --max-new-tokens 60 2> "$out/lora.gen.log"
python3 - "$out/lora.jsonl" "$out/lora" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
clean = lambda s: " ".join(s.split())
open(sys.argv[2] + ".hyp.txt", "w").write("".join(clean(r["generation"]) + "\n" for r in rows))
open(sys.argv[2] + ".ref.txt", "w").write("".join(clean(r["completion"]) + "\n" for r in rows))
PY
slm eval --metric rouge --hyp "$out/lora.hyp.txt" --ref "$out/lora.ref.txt" --stemmer --json | tee "$out/lora.rouge.json"
du -b runs/scitldr-smollm2-lora/final/adapter_model.safetensors
