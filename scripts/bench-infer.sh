#!/usr/bin/env bash
# Inference throughput, side by side in one run: ipfskit's CPU backend vs PyTorch CPU on the same
# random all-MiniLM-L6-v2-shaped model (vocab 30522, H 384, 6 layers, 12 heads, FFN 1536) and the
# same 10,000 sentences of 8-64 tokens, same thread count; PyTorch in batches of 64, sorted by
# length as sentence-transformers does, under inference_mode.
#   scripts/bench-infer.sh [SENTENCES] [THREADS]      (env BUILD_DIR, default build)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
THREADS=${2:-$(nproc)}
BUILD_DIR=${BUILD_DIR:-${IPFSKIT_BUILD_DIR:-build}}
cmake --build "$BUILD_DIR" --target ipfskit_bench_infer >&2
WORK=$(mktemp -d /tmp/ipfskit-bench-infer.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

MODEL_ARGS=(--vocab 30522 --hidden 384 --layers 6 --heads 12 --inter 1536 --max-pos 512
            --max-seq-length 256 --sentences "$N" --min-words 6 --max-words 62 --seed 42)
/usr/bin/python3 tests/py/make_bert.py --out "$WORK/model" "${MODEL_ARGS[@]}" --no-run

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ)" >&2
ours=$("$BUILD_DIR/accel/ipfskit_bench_infer" "$WORK/model" "$WORK/model/inputs.txt" --threads "$THREADS")
echo "$ours"
torch=$(/usr/bin/python3 tests/py/make_bert.py --out "$WORK/model" "${MODEL_ARGS[@]}" --bench \
          --threads "$THREADS" --batch 64 2>/dev/null)
echo "$torch"
/usr/bin/python3 - "$ours" "$torch" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"ipfskit {a['sentences_per_s']:.1f} sentences/s {a['tokens_per_s']:.0f} tokens/s | "
      f"pytorch {b['sentences_per_s']:.1f} sentences/s {b['tokens_per_s']:.0f} tokens/s | "
      f"ratio {a['sentences_per_s'] / b['sentences_per_s']:.2f}x")
PY
