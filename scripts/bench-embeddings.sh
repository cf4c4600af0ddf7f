#!/usr/bin/env bash
# Issue 12: the overhead of POST /v1/embeddings (HttpServer + EmbeddingsHandler + JSON, one
# keep-alive loopback connection) over a direct InferenceEngine call, for a one-sentence input,
# with a model shaped like all-MiniLM-L6-v2 (random weights, built by PyTorch). Prints p50 and
# p99 of both side by side (target: overhead < 1 ms at p50). ROUNDS=500 by default.
# Writes the "## Embeddings API (issue 12)" section of BENCHMARKS.md.
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
"$BUILD_DIR/tests/bench/embeddings_bench" "$W/model" "$ROUNDS" | tee "$W/out.txt"
# The bench's table ("label   p50   p99" rows) as markdown, with the verdict on the overhead.
/usr/bin/python3 - "$W/out.txt" "$ROUNDS" "$(machine_line)" "$(cut -d' ' -f1-3 /proc/loadavg)" >"$W/section.md" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
rows = [m.groups() for l in lines[1:] if (m := re.match(r"(.+?)\s+([\d.]+)\s+([\d.]+)$", l))]
print(sys.argv[3])
print()
print(f"`scripts/bench-embeddings.sh` (ROUNDS={sys.argv[2]}): a model shaped like all-MiniLM-L6-v2 (random "
      "weights), CPU backend, one 11-word sentence per call, the same input through the engine directly "
      "and through `POST /v1/embeddings` on one keep-alive loopback connection, alternating, side by side. "
      f"Load average at the end: {sys.argv[4]}.")
print()
print("| ms per call | p50 | p99 |")
print("|---|---|---|")
for label, p50, p99 in rows:
    print(f"| {label} | {p50} | {p99} |")
print()
over = {label: float(p50) for label, p50, _ in rows if label.startswith("overhead")}
verdict = "met" if over and max(over.values()) < 1 else "SHORT"
print(f"Target: overhead < 1 ms at p50 for a 1-sentence input: {verdict} "
      f"({', '.join(f'{v:.2f} ms {k.split()[1]}' for k, v in over.items())}). {lines[-1]}.")
PY
update_section "## Embeddings API (issue 12)" "$W/section.md"
