#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ for SECONDS each (default 120), continuing from fuzz/corpus/, and prints
# libFuzzer's last status line of each run: executions, coverage (cov: edges, ft: features), corpus size,
# and the execution at which the edge count last grew (a plateau shows as a long tail after it). Crashes land in
# fuzz/artifacts/TARGET/ and stop the script; each becomes a regression test. Needs the nightly toolchain
# and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-120}"
targets=(records text_metrics recipe gguf safetensors model_dir_json)
cargo +nightly fuzz build
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    cargo +nightly fuzz run "$t" -- -max_total_time="$seconds" -print_final_stats=1 2>"fuzz/$t.log" || {
        echo "$t: CRASH, see fuzz/artifacts/$t/ and fuzz/$t.log"; exit 1; }
    last=$(grep -E '^#[0-9]+' "fuzz/$t.log" | tail -1)
    execs=$(grep -E '^stat::number_of_executed_units' "fuzz/$t.log" | awk '{print $2}')
    # The execution at which the edge count last grew: a plateau shows as a long run after it.
    grew=$(awk '/^#[0-9]+.*cov: /{n=substr($1,2); for(i=1;i<=NF;i++) if($i=="cov:") c=$(i+1); if(c!=prev){at=n; prev=c}} END{print at+0}' "fuzz/$t.log")
    echo "$t: $execs executions in ${seconds}s; edges last grew at #$grew; $last"
done
