#!/usr/bin/env bash
# Lints the tend.v1 contracts with buf (rules in buf.yaml) and, when a main branch with protos
# exists and the protos here differ from it, checks for breaking changes against it.
# buf comes from PATH, or is installed from npm (@bufbuild/buf) into .tools/ on first run.
#
# Usage: scripts/lint-protos.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TOOLS="$ROOT/.tools"

log() { printf 'lint-protos: %s\n' "$*"; }
die() { printf 'lint-protos: error: %s\n' "$*" >&2; exit 1; }

# ---- buf ------------------------------------------------------------------------------------
if command -v buf >/dev/null 2>&1; then
    BUF=buf
else
    BUF="$TOOLS/node_modules/.bin/buf"
    if [[ ! -x "$BUF" ]]; then
        command -v npm >/dev/null 2>&1 || die "buf is not installed and npm is missing to install it (install Node.js and npm)"
        log "installing buf into .tools (npm @bufbuild/buf)"
        mkdir -p "$TOOLS"
        npm install --prefix "$TOOLS" --no-audit --no-fund --silent @bufbuild/buf@^1 \
            || die "npm install @bufbuild/buf failed"
    fi
fi

# ---- lint -----------------------------------------------------------------------------------
"$BUF" lint || die "buf lint found problems (rules: buf.yaml)"
log "buf lint: ok ($("$BUF" --version))"

# ---- breaking changes against main ----------------------------------------------------------
if ! git rev-parse --git-dir >/dev/null 2>&1; then
    log "buf breaking: skipped (not a git work tree)"
    exit 0
fi
base=""
for ref in refs/remotes/origin/main refs/heads/main; do
    if git rev-parse --verify --quiet "$ref^{commit}" >/dev/null \
        && git ls-tree -r --name-only "$ref" -- proto | grep -q '\.proto$'; then
        base="$ref"
        break
    fi
done
if [[ -z "$base" ]]; then
    log "buf breaking: skipped (no main or origin/main with proto files yet)"
    exit 0
fi
# Compares the work tree (uncommitted edits included) with the base.
if git diff --quiet "$base" -- proto; then
    log "buf breaking: skipped (proto/ is the same as ${base#refs/*/})"
    exit 0
fi
# subdir=proto: the module root at the base, whether or not buf.yaml existed there yet.
"$BUF" breaking --against ".git#ref=$base,subdir=proto" \
    || die "breaking changes against ${base#refs/*/} (see above; rules: buf.yaml)"
log "buf breaking: no breaking change against ${base#refs/*/}"
