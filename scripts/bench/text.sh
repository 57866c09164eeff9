#!/usr/bin/env bash
# The text section of scripts/bench.sh: enrichment speed and quality (crates/text).
#
# Fetches the labelled corpus (Twitter US Airline Sentiment, via crates/text/scripts/
# fetch_corpus.sh; not committed), builds the tend-text bench example in release mode and runs it
# pinned to one core: whole-enrichment and sentiment-only speed, built-in sentiment on the
# corpus's test fifth, a model trained on the rest scored on that fifth, churn-risk precision and
# recall on crates/text/data. Writes its JSON lines to OUTPUT.jsonl, which report.py reads.
#
#   scripts/bench/text.sh OUTPUT.jsonl [SECONDS per speed figure, default 3]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${1:?output file}"
seconds="${2:-3}"

corpus="$(crates/text/scripts/fetch_corpus.sh)"
cargo build --release --quiet -p tend-text --example bench
binary="${CARGO_TARGET_DIR:-$root/target}/release/examples/bench"
pin=()
if command -v taskset >/dev/null 2>&1; then pin=(taskset -c 0); fi
"${pin[@]}" "$binary" --corpus "$corpus" --seconds "$seconds" | tee "$out"
