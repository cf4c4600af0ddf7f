#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite with ctest.
# Arguments go to ctest, e.g. `scripts/test.sh -L unit` for the quick set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
BUILD_DIR=${IPFSKIT_BUILD_DIR:-build}
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 1800 "$@"
