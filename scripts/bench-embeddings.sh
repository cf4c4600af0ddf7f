#!/usr/bin/env bash
# Issue 12: the overhead of POST /v1/embeddings (HttpServer + EmbeddingsHandler + JSON, one
# keep-alive loopback connection) over a direct InferenceEngine call, for a one-sentence input,
# with a model shaped like all-MiniLM-L6-v2 (random weights, built by PyTorch). Prints p50 and
# p99 of both side by side (target: overhead < 1 ms at p50). ROUNDS=500 by default.
# Does not write BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
BUILD_DIR=${IPFSKIT_BUILD_DIR:-build}
[ -f "$BUILD_DIR/build.ninja" ] || scripts/build.sh >/dev/null 2>&1
cmake --build "$BUILD_DIR" --target embeddings_bench >/dev/null
ROUNDS=${ROUNDS:-500}
W=$(mktemp -d "${TMPDIR:-/var/tmp}/ipfskit-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
/usr/bin/python3 tests/py/make_bert.py --out "$W/model" --vocab 30522 --hidden 384 --layers 6 --heads 12 \
  --inter 1536 --max-pos 512 --max-seq-length 256 --no-run >/dev/null 2>&1
machine_line
echo "Model shaped like all-MiniLM-L6-v2 (random weights); one 11-word sentence per call; $ROUNDS rounds."
"$BUILD_DIR/tests/bench/embeddings_bench" "$W/model" "$ROUNDS"
