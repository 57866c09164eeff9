#!/usr/bin/env bash
# The queue section of scripts/bench.sh: how long the universal queue takes to pick an agent's
# next item from the waiting board (crates/routing/src/board.rs), one decision at a time, with
# 100,000 items and 1,000 agents, and with 1,000,000 items and 15,000 agents (issue 10's
# targets), one core. Writes JSON lines to OUTPUT.jsonl for report.py.
#
#   scripts/bench/queue.sh OUTPUT.jsonl [quick]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${1:?output file}"
quick="${2:-}"

cargo build --release --quiet -p tend-routing --example board_bench
binary="${CARGO_TARGET_DIR:-$root/target}/release/examples/board_bench"
pin=()
if command -v taskset >/dev/null 2>&1; then pin=(taskset -c 0); fi
: >"$out"
if [[ -n "$quick" ]]; then
    sizes=("10000 100 10000")
else
    sizes=("100000 1000 200000" "1000000 15000 200000")
fi
for size in "${sizes[@]}"; do
    # shellcheck disable=SC2086 # ITEMS AGENTS DECISIONS, split on purpose
    "${pin[@]}" "$binary" $size | tee /dev/stderr | tail -n 1 >>"$out"
done
