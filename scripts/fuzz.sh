#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, -DIPFSKIT_FUZZ=ON) into build-fuzz/ with clang,
# ASan and UBSan, then runs each for SECONDS (default 30) starting from its seeds and fixed
# findings in tests/fuzz/corpus/<target>/. New inputs go to build-fuzz/corpus/<target>/ (the
# checked-in corpus is never written); a crash, leak, UB report, out-of-memory (> 2 GiB), or an
# input running over 10 s is a finding, saved under build-fuzz/findings/. Exits 1 on any.
# Needs the Debian packages clang and libclang-rt-14-dev (libFuzzer and the sanitizer runtimes).
# FUZZ_TARGETS="cid_fuzz car_reader_fuzz" limits the run to those targets.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-30}
BUILD_DIR=${IPFSKIT_FUZZ_BUILD_DIR:-build-fuzz}
LAUNCHER=()
if command -v ccache >/dev/null; then
  LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DIPFSKIT_FUZZ=ON -DIPFSKIT_TESTS=OFF -DIPFSKIT_CUDA=OFF "${LAUNCHER[@]}" >&2
fi
cmake --build "$BUILD_DIR" --target fuzz_all -j"$(nproc)" >&2

targets=${FUZZ_TARGETS:-$(cd tests/fuzz && ls ./*_fuzz.cpp | sed 's|^\./||; s|\.cpp$||')}
mkdir -p "$BUILD_DIR/findings"
failed=()
for t in $targets; do
  seeds=tests/fuzz/corpus/$t
  work=$BUILD_DIR/corpus/$t
  mkdir -p "$work" "$seeds"
  echo "== $t: ${SECONDS_PER_TARGET}s" >&2
  if ! UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "$BUILD_DIR/tests/fuzz/$t" "$work" "$seeds" -max_total_time="$SECONDS_PER_TARGET" \
      -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=65536 \
      -artifact_prefix="$BUILD_DIR/findings/$t-" -print_final_stats=1 \
      >"$BUILD_DIR/findings/$t.log" 2>&1; then
    echo "!! $t: finding; see $BUILD_DIR/findings/$t.log" >&2
    grep -E "^==[0-9]+==ERROR|runtime error|SUMMARY|Test unit written" "$BUILD_DIR/findings/$t.log" | head -5 >&2 || true
    failed+=("$t")
  else
    grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE" "$BUILD_DIR/findings/$t.log" | tail -1 >&2 || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz findings in: ${failed[*]}" >&2
  exit 1
fi
echo "no findings" >&2
