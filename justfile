# Everyday commands. Each is also spelled out in README.md for machines without `just`.

# The data pipeline on shipped datasets.
demo:
    ./scripts/demo.sh

# The whole test suite (what CI runs).
test:
    cargo test --workspace

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Benchmarks, side by side with their references (see docs/performance.md).
bench:
    python3 bench/split_bench.py
    python3 bench/train_bench.py
    python3 bench/generate_bench.py

# LoRA against full fine-tuning, and distillation against labels only, on SmolLM2 (docs/compression.md).
bench-compress:
    bench/lora_vs_full.sh
    bench/distill.sh

# Every fuzz target for SECONDS each (nightly + cargo-fuzz; see docs/reliability.md).
fuzz SECONDS="120":
    ./scripts/fuzz.sh {{SECONDS}}
