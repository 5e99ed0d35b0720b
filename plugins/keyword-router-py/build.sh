#!/usr/bin/env bash
# Builds the Python keyword router into <outdir>/keyword-router-py.wasm (default ../dist) with componentize-py.
# --stub-wasi keeps the component free of WASI imports: the host links only switchyard:routing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$here/../dist}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

cpy="$root/.venv-tools/bin/componentize-py"
if [ ! -x "$cpy" ]; then
  cpy="$(command -v componentize-py || true)"
fi
if [ -z "$cpy" ]; then
  echo "componentize-py not found: run .ci/install-toolchains.sh" >&2
  exit 1
fi

# componentize-py looks for the `app` module in the current directory (and leaves its
# __pycache__ there, which .gitignore covers).
cd "$here"
"$cpy" -d "$root/wit" -w routing-application componentize app \
  -o "$out/keyword-router-py.wasm" --stub-wasi
