#!/usr/bin/env bash
# Builds the packages into build/ (or $IPFSKIT_BUILD_DIR): ipfskit_<version>_amd64.deb and
# ipfskit-<version>-1.x86_64.rpm, plus ipfskit-cuda_* when the build has the CUDA plugin.
# Extra arguments go to cmake (e.g. -DIPFSKIT_CUDA=OFF). Check them with
# scripts/check-packages.sh BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh "$@"
cd "${IPFSKIT_BUILD_DIR:-build}"
rm -f ./ipfskit*.deb ./ipfskit*.rpm
cpack -G DEB
cpack -G RPM
ls -l ./*.deb ./*.rpm
