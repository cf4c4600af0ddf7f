#!/usr/bin/env bash
# Configures and builds into build/ (or $IPFSKIT_BUILD_DIR). Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${IPFSKIT_BUILD_DIR:-build}
LAUNCHER=()
# ccache, when present, makes rebuilds in other build dirs (CI roots, helpers) cheap.
if command -v ccache >/dev/null; then
  LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
            -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${LAUNCHER[@]}" "$@" >&2
fi
cmake --build "$BUILD_DIR" -j"$(nproc)" >&2
