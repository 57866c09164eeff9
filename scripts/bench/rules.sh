#!/usr/bin/env bash
# The rules section of scripts/bench.sh: routing decisions per second with 1, 11, 51 and 201
# rules (tend loadgen's rules), one core. Writes JSON lines to OUTPUT.jsonl for report.py.
#
#   scripts/bench/rules.sh OUTPUT.jsonl [SECONDS per figure, default 3]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${1:?output file}"
seconds="${2:-3}"

cargo build --release --quiet -p tend-routing --example rules_bench
binary="${CARGO_TARGET_DIR:-$root/target}/release/examples/rules_bench"
pin=()
if command -v taskset >/dev/null 2>&1; then pin=(taskset -c 0); fi
"${pin[@]}" "$binary" --seconds "$seconds" | tee "$out"
