#!/usr/bin/env bash
# The project's test command: installs the guest toolchains if they are missing, builds
# every plugin from source, then runs the whole test suite, and the end-to-end suite a
# second time on PostgreSQL (the first run's server tests use SQLite), and last
# Schemathesis against the server on both (tests/schemathesis.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
.ci/install-toolchains.sh
plugins/build.sh
# The plugins' own rules, natively, with the compiler of their workspace.
(cd plugins && RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc /usr/bin/cargo test --locked --quiet)
cargo test --workspace
# The agents benchmark at a tiny size (debug, ~20 s each): it fails if a post is never
# offered to a connected agent, so the path from the inbound API through offering to
# the CometD clients cannot break unnoticed. Its figures mean nothing at this size.
cargo test -p switchyard-tests --bench agents -- --agents 50 --rate 50 --seconds 4
SWITCHYARD_TEST_DATABASE=postgres cargo test -p switchyard-tests
SWITCHYARD_TEST_DATABASE=postgres cargo test -p switchyard-tests --bench agents -- \
  --agents 50 --rate 50 --seconds 4
tests/schemathesis.sh
