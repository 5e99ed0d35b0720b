#!/usr/bin/env bash
# Builds every plugin into plugins/dist/<name>.wasm (WebAssembly components).
#
# Rust plugins are compiled for wasm32-unknown-unknown by Debian's rustc-web, which
# builds its own std (-Zbuild-std); rustup's toolchain has no wasm target here. See
# docs/plugins.md; .ci/install-toolchains.sh installs what this script assumes.
# This script installs nothing.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
dist="$here/dist"

rust_plugins=(keyword-router cas-processor json-gateway twilio-gateway hostile wrong-world forbidden-import legacy-router)

wasm_tools="$root/.venv-tools/bin/wasm-tools"
if [ ! -x "$wasm_tools" ]; then
  wasm_tools="$(command -v wasm-tools || true)"
fi
if [ -z "$wasm_tools" ]; then
  echo "wasm-tools not found (looked in $root/.venv-tools/bin and PATH): run .ci/install-toolchains.sh" >&2
  exit 1
fi
for tool in /usr/bin/cargo /usr/bin/rustc; do
  if [ ! -x "$tool" ]; then
    echo "$tool not found: Debian's rustc-web is needed (run .ci/install-toolchains.sh)" >&2
    exit 1
  fi
done

mkdir -p "$dist"

# --- Rust plugins ---
# RUSTC/RUSTDOC keep rustup's proxies (first on PATH) out of the Debian build, and
# RUSTC_BOOTSTRAP lets the stable Debian compiler accept -Zbuild-std. Running from
# plugins/ makes plugins/Cargo.toml the workspace root, never the host's workspace.
echo "building Rust plugins (a clean build compiles std first, about a minute)"
(
  cd "$here"
  RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
    /usr/bin/cargo build --release --locked --target wasm32-unknown-unknown \
    -Zbuild-std=std,panic_abort
)

for name in "${rust_plugins[@]}"; do
  core="$here/target/wasm32-unknown-unknown/release/${name//-/_}.wasm"
  "$wasm_tools" component new "$core" -o "$dist/$name.wasm"
done

# --- hand-written components ---
# A component in WebAssembly text, for what Rust does not produce: several core
# instances with their own memories.
"$wasm_tools" parse "$here/multi-memory/route.wat" -o "$dist/multi-memory.wasm"

# --- non-Rust plugins ---
# Both are part of what the tests check, so a missing toolchain fails the build.
bash "$here/keyword-router-py/build.sh" "$dist"
bash "$here/keyword-router-js/build.sh" "$dist"

echo "components in $dist:"
for artifact in "$dist"/*.wasm; do
  printf '  %-28s %10s bytes\n' "$(basename "$artifact")" "$(stat -c %s "$artifact")"
done
