#!/usr/bin/env bash
# The trends section of scripts/bench.sh: hot topics and similar posts on one core. The
# near-duplicate clustering (inserts/s, recall on injected near-duplicates, precision, memory)
# and the burst detector (false hot topics on normal days, delay to detect planted outages,
# assessments/s). Writes one JSON line per benchmark to OUTPUT.jsonl for report.py.
#
#   scripts/bench/trends.sh OUTPUT.jsonl [quick]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${1:?output file}"
quick="${2:-}"

cargo build --release --quiet -p tend-trends --example cluster_bench --example burst_bench
examples="${CARGO_TARGET_DIR:-$root/target}/release/examples"
pin=()
if command -v taskset >/dev/null 2>&1; then pin=(taskset -c 0); fi
if [[ -n "$quick" ]]; then
    cluster_args=(--posts 20000) burst_args=(--weeks 4 --days 2 --bursts 4)
else
    cluster_args=() burst_args=()
fi
: >"$out"
# Each prints its figures, then one JSON line last.
"${pin[@]}" "$examples/cluster_bench" "${cluster_args[@]}" | tee /dev/stderr | tail -n 1 |
    python3 -c 'import json, sys; d = json.load(sys.stdin); d["bench"] = "cluster"; print(json.dumps(d))' >>"$out"
"${pin[@]}" "$examples/burst_bench" "${burst_args[@]}" | tee /dev/stderr | tail -n 1 |
    python3 -c 'import json, sys; d = json.load(sys.stdin); d["bench"] = "burst"; print(json.dumps(d))' >>"$out"
