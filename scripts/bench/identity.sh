#!/usr/bin/env bash
# The identity section of scripts/bench.sh: the record matcher on FEBRL4 (5,000 x 5,000
# records, 5,000 true pairs).
#
# Fetches the data (scripts/fetch-febrl.sh), builds `tend-link` in release mode, and links
# dataset4a.csv to dataset4b.csv pinned to one core, without soc_sec_id. Prints precision, recall,
# F1, the candidate pairs and the time per phase (median of the runs), then the wall time of the
# whole process (start, CSV read, matching, exit) as measured from outside.
#
#   scripts/bench/identity.sh RUNS OUTPUT.txt [extra tend-link flags, e.g. --show-errors 5]
# Everything printed also goes to OUTPUT.txt, which scripts/bench/report.py reads.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
runs="${1:?runs}"
text="${2:?output file}"
shift 2

{
    scripts/fetch-febrl.sh
    cargo build --release --quiet -p tend-matching --features cli --bin tend-link
    binary="${CARGO_TARGET_DIR:-$root/target}/release/tend-link"

    pin=()
    if command -v taskset >/dev/null 2>&1; then
        pin=(taskset -c 0)
        echo "bench: pinned to core 0 (taskset)"
    else
        echo "bench: taskset not found, not pinned"
    fi

    data="$root/bench-data/febrl"
    output="$root/bench-data/febrl-pairs.csv"
    echo "bench: FEBRL4, link dataset4a.csv to dataset4b.csv, one-to-one, threshold 0.9"
    "${pin[@]}" "$binary" --left "$data/dataset4a.csv" --right "$data/dataset4b.csv" \
        --threshold 0.9 --evaluate --repeat "$runs" --output "$output" "$@" 2>/dev/null

    # One cold process, start to exit, as a user would run it.
    start=$(date +%s%N)
    "${pin[@]}" "$binary" --left "$data/dataset4a.csv" --right "$data/dataset4b.csv" --threshold 0.9 >/dev/null
    end=$(date +%s%N)
    echo "process wall time (start, read, match, exit; one run): $(((end - start) / 1000000)) ms"
    echo "pairs written to $output"
} 2>&1 | tee "$text"
