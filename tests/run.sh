#!/usr/bin/env bash
# The project's test command: installs the guest toolchains if they are missing, builds
# every plugin from source, then runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
.ci/install-toolchains.sh
plugins/build.sh
cargo test --workspace
