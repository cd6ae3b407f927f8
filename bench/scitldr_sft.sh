#!/usr/bin/env bash
# recipes/scitldr-smollm2.toml end to end: fine-tune SmolLM2-135M-Instruct on SciTLDR, then generate TLDRs
# for the first N test abstracts with the base and the fine-tuned model (greedy, 60 new tokens at most)
# and score both with ROUGE (rouge-score compatible, stemmed). Results: bench/.scitldr/*.rouge.json.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-60}
out=bench/.scitldr
mkdir -p "$out"
[ -d models/smollm2 ] || slm import "${SLM_MODELS_DIR:-../shared/models}/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf" --out models/smollm2
[ -f datasets/scitldr/sft_test.jsonl ] || python3 datasets/scitldr/to_sft.py
head -n "$N" datasets/scitldr/sft_test.jsonl > "$out/test.jsonl"
/usr/bin/time -v slm train recipes/scitldr-smollm2.toml --force 2> "$out/train.log"
for pair in base=models/smollm2 tuned=runs/scitldr-smollm2/final; do
    name=${pair%%=*}; model=${pair#*=}
    rm -f "$out/$name.jsonl"
    slm generate --model "$model" --input "$out/test.jsonl" --out "$out/$name.jsonl" --max-new-tokens 60 2> "$out/$name.gen.log"
    python3 - "$out/$name.jsonl" "$out/$name" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
clean = lambda s: " ".join(s.split())
open(sys.argv[2] + ".hyp.txt", "w").write("".join(clean(r["generation"]) + "\n" for r in rows))
open(sys.argv[2] + ".ref.txt", "w").write("".join(clean(r["completion"]) + "\n" for r in rows))
PY
    slm eval --metric rouge --hyp "$out/$name.hyp.txt" --ref "$out/$name.ref.txt" --stemmer --json > "$out/$name.rouge.json"
done
cat "$out"/*.rouge.json
