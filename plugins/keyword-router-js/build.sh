#!/usr/bin/env bash
# Builds the JavaScript keyword router into <outdir>/keyword-router-js.wasm (default ../dist).
# Needs `npm install --no-save` here first (.ci/install-toolchains.sh does it); installs
# nothing. Not `npm ci`: it refuses this lockfile, because jco-node-fs 0.3.2 names platform
# packages that were never published, so npm cannot record them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../dist}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
if [ ! -d "$here/node_modules/@bytecodealliance/componentize-js" ]; then
  echo "componentize-js missing: run 'npm install --no-save' in $here (or .ci/install-toolchains.sh)" >&2
  exit 1
fi
cd "$here"
node build.mjs "$out"
