#!/usr/bin/env bash
# Cache policy benchmark (issue 4): hit ratio of ARC vs LRU vs Belady's OPT on synthetic
# block-access traces at three cache sizes. Prints the table; with --write, also replaces the
# "## Cache policy (issue 4)" section of BENCHMARKS.md (other sections are left alone).
# Builds tests/bench/cache_sim with the build dir's target when present, else with g++ directly.
set -euo pipefail
cd "$(dirname "$0")/.."
WRITE=0
[ "${1:-}" = "--write" ] && WRITE=1
BUILD_DIR=${IPFSKIT_BUILD_DIR:-build}
SIM=""
if [ -f "$BUILD_DIR/build.ninja" ] && cmake --build "$BUILD_DIR" --target cache_sim >/dev/null 2>&1; then
  SIM=$(find "$BUILD_DIR" -name cache_sim -type f -perm -u+x | head -1)
fi
if [ -z "$SIM" ]; then
  mkdir -p "$BUILD_DIR/bench-standalone"
  SIM="$BUILD_DIR/bench-standalone/cache_sim"
  # ArcPolicy is header-only, so the simulator needs nothing else from core.
  g++ -O2 -std=c++20 -I. tests/bench/cache_sim.cpp -o "$SIM"
fi
TABLE=$("$SIM" --markdown)
echo "$TABLE"
[ "$WRITE" = 1 ] || exit 0

CPU=$(lscpu | grep 'Model name' | head -1 | sed 's/Model name:[[:space:]]*//')
DATE=$(date -u +%Y-%m-%d)
SECTION=$(mktemp)
cat > "$SECTION" <<MD
## Cache policy (issue 4)

Measured $DATE on $CPU ($(nproc) cores) with \`scripts/bench-cache.sh --write\`.
Hit ratio over whole traces of 1,000,000 unit-size block accesses from a universe of 100,000
blocks; cache sizes 1%, 5% and 10% of the universe. ARC is \`core/cache/arc_policy.h\` (the
policy the LMDB block cache runs); LRU is a plain list; OPT is Belady's MIN (evicts the block
used farthest in the future), the limit no online policy reaches. In the scan-mixed traces a
third of all accesses are scan blocks that nothing can hit, so no policy can exceed ~67% there.

Targets: ARC ≥ LRU on every trace; ARC ≥ LRU + 10 points on the scan-mixed traces.

$TABLE

What the numbers say (the traces are seeded, so a rerun gives the same table):
- ARC beats LRU by 4–10 points on plain zipf, and ties it (both 0%) on the loop larger than
  the cache, where OPT shows that keeping any fixed part of the loop would pay; neither ARC
  nor LRU does that.
- Scan-mixed: ARC is 6.4–10.5 points above LRU, so the 10-point target is met at only one of the
  six points. ARC keeps the frequent set through each scan (it reaches 75–91% of OPT), but a
  third of the accesses are unhittable scan blocks, which caps the possible gap; this is a
  shortfall against the target as stated, not hidden by choosing a friendlier trace.
- Shifting working set: ARC is 0.1 points below LRU at the two larger sizes (96.3 vs 96.4,
  97.2 vs 97.2 as printed; -0.1 points each), the price of ARC re-learning p after each shift; a shortfall
  against "ARC ≥ LRU everywhere", if a small one.
MD
python3 - "$SECTION" <<'PY'
import re, sys, pathlib
section = pathlib.Path(sys.argv[1]).read_text().rstrip() + "\n"
path = pathlib.Path("BENCHMARKS.md")
text = path.read_text() if path.exists() else "# Benchmarks\n"
pat = re.compile(r"^## Cache policy \(issue 4\)\n.*?(?=^## |\Z)", re.S | re.M)
if pat.search(text):
    text = pat.sub(lambda m: section + "\n", text, count=1)
else:
    text = text.rstrip() + "\n\n" + section
path.write_text(text.rstrip() + "\n")
PY
rm -f "$SECTION"
echo "wrote the cache policy section of BENCHMARKS.md" >&2
