#!/usr/bin/env bash
# The data pipeline on shipped, real datasets: split SMS spam with class balance and no leakage, augment
# the training side, check MBPP's code, train a tokenizer, then a seconds-long training run and its plot.
# Outputs go to demo/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
slm() {
    echo "\$ slm $*" >&2
    cargo run --quiet -- "$@"
}
out=demo
rm -rf "$out" && mkdir -p "$out"
slm split datasets/sms_spam/sms_spam.jsonl --stratify label --out-dir "$out/sms"
slm augment "$out/sms/train.jsonl" --out "$out/sms/train.aug.jsonl" --synonym 0.1 --swap 0.1 --copies 2
slm validate datasets/mbpp/mbpp.jsonl --field code --lang python
slm tokenizer train datasets/tinyshakespeare/input.txt --kind bpe --vocab-size 2048 --out "$out/tokenizer.json"
slm tokenizer encode --tokenizer "$out/tokenizer.json" --text "To be, or not to be"
slm train recipes/tiny-ci.toml --out "$out/tiny-ci"
slm plot "$out/tiny-ci" --out "$out/tiny-ci.png"
slm generate --model "$out/tiny-ci/final" --prompt "ROMEO:" --max-new-tokens 60 --strategy sample --temperature 0.8
