#!/usr/bin/env bash
# Installs everything ipfskit needs to build, run and test on Debian 12. Idempotent: installs
# only what is missing, so run.sh and test.sh call it every time.
#   scripts/install-deps.sh [--bench]   --bench: also the references the benchmarks run against
#                                       (ONNX Runtime for bench-infer.sh, ~300 MB from npm)
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

PKGS=(
  build-essential cmake ninja-build pkg-config git
  # ccache: build.sh and fuzz.sh use it; CI keeps its cache between runs (scripts/fresh-root.sh)
  ccache
  libfuse3-dev fuse3
  libcurl4-openssl-dev libssl-dev liblmdb-dev lmdb-utils libtbb-dev
  nlohmann-json3-dev libcli11-dev libgtest-dev libutf8proc-dev libcbor-dev
  nginx-light sqlite3 rsync fio psmisc procps attr xxd time util-linux
  nodejs npm
  python3 python3-torch python3-numpy libopenblas0-pthread libopenblas-dev libdnnl-dev
  # libdnnl-dev's CMake config needs OpenCL, which it only recommends.
  ocl-icd-opencl-dev opencl-c-headers
  libspdlog-dev libsystemd-dev
  # /ipns: DNSLink lookups (c-ares) and the loopback DNS server the tests run (dnsmasq)
  libc-ares-dev dnsmasq-base
  # ipfskit serve: the HTTP server (trustless gateway, pinning and embeddings APIs)
  libmicrohttpd-dev
  # man pages, completion, packages and their checks
  help2man man-db bash-completion dpkg-dev rpm lintian systemd
  ca-certificates
  # fuzz targets (scripts/fuzz.sh): libFuzzer and the sanitizer runtimes
  clang libclang-rt-14-dev libomp-14-dev
  # pjdfstest_slow_test builds ../shared/third_party/pjdfstest (prove comes with perl)
  autoconf automake perl
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # Node may come from elsewhere (nodesource, nvm); only ask apt for it when none is present.
  if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=($(printf '%s\n' "${missing[@]}" | grep -vx -e nodejs -e npm || true))
  fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Independent reference implementations for the tests (JS UnixFS importer, HF tokenizers),
# kept in a folder git ignores.
if [ ! -f tests/js/node_modules/.ipfskit-installed ] || [ tests/js/package.json -nt tests/js/node_modules/.ipfskit-installed ]; then
  (cd tests/js && npm install --no-audit --no-fund --loglevel=error >&2)
  touch tests/js/node_modules/.ipfskit-installed
fi

if [ "${1:-}" = "--bench" ]; then
  # onnxruntime-node ships its CPU binaries in the package; its install script would fetch CUDA
  # binaries from outside npm, which the CPU benchmark does not use.
  if [ ! -f scripts/bench/node_modules/.ipfskit-installed ] || [ scripts/bench/package.json -nt scripts/bench/node_modules/.ipfskit-installed ]; then
    (cd scripts/bench && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error >&2)
    touch scripts/bench/node_modules/.ipfskit-installed
  fi
fi
