#!/usr/bin/env bash
# Issue 12 benchmark, side by side in one run: `ipfskit serve` against nginx (nginx-light, one
# worker, sendfile on) serving the same bytes as plain files. Only 127.0.0.1 is used.
#  (a) GET ?format=car of a SIZE_MB (256) MiB file from a warm repo vs nginx sending the file;
#  (b) RAW_REQUESTS (10000) raw-block requests over CONNS (8) keep-alive connections (8 curl
#      processes, each reusing one connection) vs nginx serving the same blocks as files.
# Prints MiB/s, requests/s and the ratios; writes nothing else (no BENCHMARKS.md section yet).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
BUILD_DIR=${IPFSKIT_BUILD_DIR:-build}
if [ -z "${SKIP_BUILD:-}" ]; then cmake --build "$BUILD_DIR" --target ipfskit >&2; fi
BIN="$PWD/$BUILD_DIR/fuse/ipfskit"
NGINX=${NGINX:-/usr/sbin/nginx}
SIZE_MB=${SIZE_MB:-256}
RAW_REQUESTS=${RAW_REQUESTS:-10000}
CONNS=${CONNS:-8}
W=$(mktemp -d "${TMPDIR:-/var/tmp}/ipfskit-bench-serve.XXXXXX")
NGINX_PID="" SERVE_PID=""
cleanup() {
  [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null || true
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
export IPFSKIT_GATEWAYS="" IPFSKIT_KUBO_API=none
mkdir -p "$W/www/blocks" "$W/nginx/tmp"
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }

SRC=(--repo "$W/repo" --offline)
"$BIN" "${SRC[@]}" init >/dev/null
head -c "$((SIZE_MB << 20))" /dev/urandom > "$W/www/plain.bin"
BIG=$("$BIN" "${SRC[@]}" add -Q --cid-version 1 "$W/www/plain.bin")
# The file's blocks as files named by CID, for nginx (the CAR split by a few lines of Python).
"$BIN" "${SRC[@]}" dag export "$BIG" | python3 -c '
import base64, sys
out, data = sys.argv[1], sys.stdin.buffer.read()
def varint(b, i):
    x = s = 0
    while True:
        c = b[i]; i += 1; x |= (c & 0x7f) << s; s += 7
        if c < 0x80: return x, i
hlen, pos = varint(data, 0); pos += hlen
while pos < len(data):
    slen, p = varint(data, pos); end = p + slen
    _, q = varint(data, p); _, q = varint(data, q); _, q = varint(data, q); dlen, q = varint(data, q); q += dlen
    name = "b" + base64.b32encode(data[p:q]).decode().lower().rstrip("=")
    open(f"{out}/{name}", "wb").write(data[q:end])
    pos = end' "$W/www/blocks"
mapfile -t BLOCKS < <(ls "$W/www/blocks")

start_block_nginx "$W"
NGX="http://127.0.0.1:$PORT"
"$BIN" "${SRC[@]}" serve --listen 127.0.0.1:0 > "$W/serve.out" 2>&1 &
SERVE_PID=$!
for _ in $(seq 200); do grep -q http:// "$W/serve.out" && break; sleep 0.05; done
GW=$(grep -o 'http://[0-9.:]*' "$W/serve.out")
for _ in $(seq 100); do curl -s -o /dev/null "$NGX/plain.bin" && break; sleep 0.05; done

# (a) one big CAR vs one big file; each warmed once (page cache, LMDB map), best of 3.
best_mibs() {  # URL
  local best=0 t0 t1 r
  curl -s -o /dev/null "$1"
  for _ in 1 2 3; do
    t0=$(now); curl -s -o /dev/null "$1"; t1=$(now)
    r=$(calc "$SIZE_MB/($t1-$t0)"); best=$(calc "max($best,$r)")
  done
  echo "$best"
}
CAR_MIBS=$(best_mibs "$GW/ipfs/$BIG?format=car")
NGX_MIBS=$(best_mibs "$NGX/plain.bin")
# The CAR carries the block headers and internal nodes too: count its real size.
CAR_BYTES=$(curl -s "$GW/ipfs/$BIG?format=car" | wc -c)
echo "car ${SIZE_MB} MiB file: serve $(calc "round($CAR_MIBS,1)") MiB/s (CAR of $CAR_BYTES bytes), nginx file $(calc "round($NGX_MIBS,1)") MiB/s, ratio $(calc "round($CAR_MIBS/$NGX_MIBS,2)")"

# (b) raw blocks: CONNS curl processes, each with one keep-alive connection and its share of URLs.
raw_rps() {  # BASE QUERY
  local per=$((RAW_REQUESTS / CONNS)) t0 t1 c i
  for c in $(seq "$CONNS"); do
    : > "$W/urls.$c"
    for i in $(seq "$per"); do
      echo "url = \"$1/ipfs/${BLOCKS[$(((c * per + i) % ${#BLOCKS[@]}))]}$2\"" >> "$W/urls.$c"
      echo "output = /dev/null" >> "$W/urls.$c"
    done
  done
  local pids=()
  t0=$(now)
  for c in $(seq "$CONNS"); do curl -s -K "$W/urls.$c" & pids+=($!); done
  wait "${pids[@]}"
  t1=$(now)
  calc "$per*$CONNS/($t1-$t0)"
}
SERVE_RPS=$(raw_rps "$GW" "?format=raw")
NGX_RPS=$(raw_rps "$NGX" "")
echo "raw blocks ($RAW_REQUESTS over $CONNS keep-alive connections): serve $(calc "round($SERVE_RPS)") req/s, nginx $(calc "round($NGX_RPS)") req/s, ratio $(calc "round($SERVE_RPS/$NGX_RPS,2)")"
