#!/usr/bin/env bash
# Builds the deb and rpm packages into build/ (ipfskit_<version>_<arch>.deb, ipfskit-<version>.rpm).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
need=()
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v rpmbuild >/dev/null || need+=(rpm)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
scripts/build.sh
cd "${IPFSKIT_BUILD_DIR:-build}"
cpack -G DEB
cpack -G RPM
ls -l ./*.deb ./*.rpm
