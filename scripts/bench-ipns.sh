#!/usr/bin/env bash
# Issue 11 benchmark: IPNS resolution latency (tests/bench/ipns_bench: a cached name, a cold name
# from one loopback delegated-routing server, a cold name with three sources of which one stalls,
# beside a plain HTTP GET of the same record as the floor), and through the mount: `stat` of a
# file under /ipns/<name> and `ls -l` of a 10,000-entry directory under /ipns vs the same under
# /ipfs. Needs root (mount). Writes the "## IPNS (issue 11)" section of BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
scripts/install-deps.sh >/dev/null
scripts/build.sh >/dev/null 2>&1
BUILD_DIR=${IPFSKIT_BUILD_DIR:-build}
cmake --build "$BUILD_DIR" --target ipns_bench >/dev/null
BIN="$PWD/$BUILD_DIR/fuse/ipfskit"
BENCH=$(find "$BUILD_DIR" -name ipns_bench -type f -perm -u+x | head -1)
N=${N:-300}
W=$(mktemp -d "${TMPDIR:-/var/tmp}/ipfskit-bench-ipns.XXXXXX")
MNT="$W/mnt"
cleanup() { "$BIN" unmount "$MNT" >/dev/null 2>&1 || true; rm -rf "$W"; }
trap cleanup EXIT
export IPFSKIT_GATEWAYS="" IPFSKIT_KUBO_API=none

"$BENCH" "$N" > "$W/resolve.json"

# A name published in another repo, its record put into the bench repo's cache (TTL 1 h): the
# mount resolves it with no source, as any cached name.
mkdir -p "$MNT" "$W/wide"
for i in $(seq 1 10000); do echo "$i" > "$W/wide/entry-$i.txt"; done
"$BIN" --repo "$W/repo" init >/dev/null
"$BIN" --repo "$W/pub" init >/dev/null
WIDE=$("$BIN" --repo "$W/repo" add -Qr "$W/wide")
"$BIN" --repo "$W/pub" add -Qr "$W/wide" >/dev/null
ID=$("$BIN" --repo "$W/pub" name publish --allow-offline --ttl 1h -Q "/ipfs/$WIDE")
"$BIN" --repo "$W/pub" --offline name get "$ID" > "$W/rec"
"$BIN" --repo "$W/repo" name put "$ID" "$W/rec" >/dev/null
"$BIN" --repo "$W/repo" --offline mount "$MNT"

stat_p50() {  # path -> p50 microseconds of os.stat over 2000 calls
  python3 - "$1" <<'PY'
import os, sys, time
p = sys.argv[1]; ts = []
for _ in range(2000):
    t = time.perf_counter(); os.stat(p); ts.append(time.perf_counter() - t)
ts.sort(); print(f"{ts[len(ts)//2]*1e6:.1f}")
PY
}
ls -l "$MNT/ipns/$ID" >/dev/null; ls -l "$MNT/ipfs/$WIDE" >/dev/null   # warm both
st_ipns=$(stat_p50 "$MNT/ipns/$ID/entry-1.txt"); st_ipfs=$(stat_p50 "$MNT/ipfs/$WIDE/entry-1.txt")
ls_time() { python3 -c "
import subprocess, time
ts = []
for _ in range(5):
    t = time.perf_counter(); subprocess.run(['ls', '-l', '$1'], stdout=subprocess.DEVNULL, check=True); ts.append(time.perf_counter() - t)
ts.sort(); print(f'{ts[2]*1000:.0f}')"; }
# A fresh daemon per measurement (nothing in the kernel's caches), in the order ipfs, ipns, ipns,
# ipfs so that whatever the first run warms (the page cache of data.mdb) favours neither side.
remount() { "$BIN" unmount "$MNT"; "$BIN" --repo "$W/repo" --offline mount "$MNT"; }
remount; a1=$(ls_time "$MNT/ipfs/$WIDE")
remount; b1=$(ls_time "$MNT/ipns/$ID")
remount; b2=$(ls_time "$MNT/ipns/$ID")
remount; a2=$(ls_time "$MNT/ipfs/$WIDE")
ls_ipfs=$(python3 -c "print(($a1+$a2)/2)"); ls_ipns=$(python3 -c "print(($b1+$b2)/2)")

BODY="$W/section.md"
python3 - "$W/resolve.json" "$st_ipns" "$st_ipfs" "$ls_ipns" "$ls_ipfs" "$(machine_line)" > "$BODY" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); st_ipns, st_ipfs, ls_ipns, ls_ipfs = map(float, sys.argv[2:6])
def ok(v, t): return "met" if v < t else "SHORTFALL"
print(sys.argv[6])
print()
print("`scripts/bench-ipns.sh`. Resolution through NameSys in one process (tests/bench/ipns_bench,", r["cached"]["n"],
      "names, Ed25519 records, routing servers on loopback); the floor is a plain HTTP GET of the same record from the same server.")
print()
print("| case | p50 ms | p90 ms | p99 ms | target | |")
print("|---|---:|---:|---:|---|---|")
rows = [("cached name, resolved before in this process", "cached", 0.2),
        ("cached name, first time in this process (signature checked)", "cached_first_in_process", None),
        ("cold, one routing server", "cold_one_router", 10),
        ("cold, three sources, one stalled", "cold_three_sources_one_stalled", 20),
        ("floor: plain HTTP GET of the record", "reference_plain_http_get", None)]
for label, k, t in rows:
    x = r[k]
    print(f"| {label} | {x['p50_ms']:.3f} | {x['p90_ms']:.3f} | {x['p99_ms']:.3f} | {'< %g ms' % t if t else ''} | {ok(x['p50_ms'], t) if t else ''} |")
print()
print("Through the mount (offline, the name cached): `stat` p50 of a file, kernel caches included (entries of")
print("/ipns/<name> live 1 s, so most calls are answered by the kernel), and `ls -l` of a 10,000-entry")
print("directory (median of 5 per daemon, mean of two fresh daemons per side, order ipfs, ipns, ipns, ipfs):")
print()
print("| | /ipns/<name> | /ipfs/<cid> | ratio | target | |")
print("|---|---:|---:|---:|---|---|")
print(f"| stat p50 (µs) | {st_ipns:.1f} | {st_ipfs:.1f} | {st_ipns/st_ipfs:.2f} | | |")
ratio = ls_ipns / ls_ipfs
print(f"| ls -l 10,000 entries (ms) | {ls_ipns:.0f} | {ls_ipfs:.0f} | {ratio:.2f} | within 10% | {'met' if ratio <= 1.10 else 'SHORTFALL'} |")
PY
cat "$BODY"
[ "${1:-}" = "--write" ] && update_section "## IPNS (issue 11)" "$BODY"
exit 0
