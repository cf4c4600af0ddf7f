#!/usr/bin/env bash
# Issue 12 benchmark, side by side in one run: `ipfskit serve` against nginx (nginx-light, one
# worker, sendfile on) serving the same bytes as plain files, and a fresh mount reading through
# `ipfskit serve`. Only 127.0.0.1 is used.
#  (a) GET ?format=car of a SIZE_MB (256) MiB file from a warm repo vs nginx sending the file;
#  (b) RAW_REQUESTS (10000) raw-block requests over CONNS (8) keep-alive connections (8 curl
#      processes, each reusing one connection) vs nginx serving the same blocks as files;
#  (c) a fresh mount (empty repo and cache) with -o gateway=<serve> reading the SIZE_MB file
#      sequentially (CAR streams) vs curl of the same file's CAR from the same server, and the
#      same mount with CAR streams off (net.car_stream_window_bytes 0: block by block);
#  (d) `cp -r` of SMALL_FILES (1000) small files through a fresh mount: one dag-scope=all CAR vs
#      block by block (net.car_tree_max_bytes 0).
# Needs root (drop_caches, mounts). Writes the "## ipfskit serve (issue 12)" section of BENCHMARKS.md.
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
SMALL_FILES=${SMALL_FILES:-1000}
W=$(mktemp -d "${TMPDIR:-/var/tmp}/ipfskit-bench-serve.XXXXXX")
MNT="$W/mnt"
NGINX_PID="" SERVE_PID=""
cleanup() {
  "$BIN" unmount "$MNT" >/dev/null 2>&1 || true
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
mkdir -p "$W/small"
for i in $(seq -w 1 "$SMALL_FILES"); do head -c $((1024 + 10#$i * 7)) /dev/urandom > "$W/small/f$i"; done
SMALL=$("$BIN" "${SRC[@]}" add -Qr --cid-version 1 "$W/small")
# The file's blocks as files named by CID, for nginx.
"$BIN" "${SRC[@]}" dag export "$BIG" | split_car "$W/www/blocks"
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

# (c) and (d): fresh mounts (empty repo, empty cache) whose only source is the serve gateway.
fresh_mount() { fresh_mount_at "$BIN" "$W/mrepo" "$MNT" "$GW" "${1:-}"; }  # [config.json content]
mibs_of() { calc "round($SIZE_MB/$1,1)"; }
PER_BLOCK='{"net": {"car_stream_window_bytes": 0, "car_tree_max_bytes": 0}}'
drop_caches
CURLCAR_S=$(curl -s -o /dev/null -w '%{time_total}' "$GW/ipfs/$BIG?format=car")
fresh_mount; drop_caches
STREAM_S=$(seconds dd if="$MNT/ipfs/$BIG" of=/dev/null bs=1M status=none)
cmp "$MNT/ipfs/$BIG" "$W/www/plain.bin"
STATS_C=$(cat "$MNT/.ipfskit/stats")
fresh_mount "$PER_BLOCK"; drop_caches
BLOCK_S=$(seconds dd if="$MNT/ipfs/$BIG" of=/dev/null bs=1M status=none)
echo "fresh mount, ${SIZE_MB} MiB sequential: CAR streams $(mibs_of "$STREAM_S") MiB/s, block by block $(mibs_of "$BLOCK_S") MiB/s, curl of the CAR $(mibs_of "$CURLCAR_S") MiB/s"

fresh_mount; drop_caches
TREE_S=$(seconds cp -r "$MNT/ipfs/$SMALL" "$W/copy1")
STATS_D=$(cat "$MNT/.ipfskit/stats")
fresh_mount "$PER_BLOCK"; drop_caches
TREE_BLOCK_S=$(seconds cp -r "$MNT/ipfs/$SMALL" "$W/copy2")
diff -r "$W/small" "$W/copy1"
diff -r "$W/small" "$W/copy2"
"$BIN" unmount "$MNT"
echo "cp -r of $SMALL_FILES small files: one CAR ${TREE_S} s, block by block ${TREE_BLOCK_S} s"

car_of() { python3 -c "import json,sys; j=json.loads(sys.argv[1])['sources']; c=j['car']; print(c['ranges'], c['trees'], c['blocks'], j['remote_fetches'])" "$1"; }
read -r c_ranges _ c_blocks c_fetches <<<"$(car_of "$STATS_C")"
read -r _ d_trees d_blocks d_fetches <<<"$(car_of "$STATS_D")"
r_car=$(calc "round($CAR_MIBS/$NGX_MIBS,2)")
r_raw=$(calc "round($SERVE_RPS/$NGX_RPS,2)")
r_stream=$(calc "round($CURLCAR_S/$STREAM_S,2)")
r_tree=$(calc "round($TREE_BLOCK_S/$TREE_S,1)")
v() { calc "'met' if $1 >= $2 else 'SHORTFALL'"; }
body="$W/section.md"
{
  echo "$(machine_line)"
  echo
  echo "Measured with \`scripts/bench-serve.sh\`, one run, everything on 127.0.0.1. nginx is Debian's nginx-light"
  echo "(one worker, sendfile on) serving the same bytes as files. Content: CIDv1, raw 256 KiB leaves."
  echo "Mounts are fresh (empty repo and cache, \`-o gateway=\` the serve URL) and the page cache is dropped before each"
  echo "cold read. The 'block by block' mounts set \`net.car_stream_window_bytes\` and \`net.car_tree_max_bytes\` to 0."
  echo
  echo "| measure | ipfskit | reference | ratio | target |"
  echo "|---|---|---|---|---|"
  echo "| GET ?format=car of a ${SIZE_MB} MiB file, warm repo (MiB/s) vs nginx sendfile of the file | $(calc "round($CAR_MIBS)") | $(calc "round($NGX_MIBS)") | $r_car | ≥ 0.8 ($(v "$r_car" 0.8)) |"
  echo "| $RAW_REQUESTS raw-block GETs over $CONNS keep-alive connections (req/s) vs nginx, block files | $(calc "round($SERVE_RPS)") | $(calc "round($NGX_RPS)") | $r_raw | ≥ 0.8 ($(v "$r_raw" 0.8)) |"
  echo "| fresh mount reading the ${SIZE_MB} MiB file, dd bs=1M (MiB/s) vs curl of its CAR from the same server | $(mibs_of "$STREAM_S") | $(mibs_of "$CURLCAR_S") | $r_stream | ≥ 0.8 ($(v "$r_stream" 0.8)) |"
  echo "| same mount read block by block (MiB/s), for reference | $(mibs_of "$BLOCK_S") | | | |"
  echo "| \`cp -r\` of $SMALL_FILES small files (1–8 KiB), fresh mount (s): one CAR vs block by block | $TREE_S | $TREE_BLOCK_S | ${r_tree}× faster | ≥ 10× ($(v "$r_tree" 10)) |"
  echo
  echo "The streamed read took $c_ranges CAR requests and $c_fetches single-block fetches; the tree copy one dag-scope=all CAR"
  echo "($d_trees) with $d_blocks blocks and $d_fetches single-block fetches."
} > "$body"
cat "$body"
update_section "## ipfskit serve (issue 12)" "$body"
