#!/usr/bin/env bash
# Issue 4 benchmark: remote reads through the mount from a loopback nginx trustless gateway.
#  (a) cold sequential read of a SIZE_MB (256) MiB file through a fresh mount (empty repo, empty
#      cache, page cache dropped) vs `curl` of the same bytes served as one plain file by the
#      same nginx: MiB/s and ratio (target >= 0.8x, issue 13);
#  (b) SMALL_FILES (1000) small files read through a fresh mount, one at a time by name, each
#      fetched from the gateway: median and p99 latency per file; and the same files read with
#      `cat dir/*` after a listing (the listing prefetches the children).
#  (c) the same cold read and `cat dir/*` with `ipfskit serve` (a trustless gateway that serves
#      CARs: the mount then streams dag-scope=entity ranges and a directory's tree instead of
#      asking block by block) vs `curl` of the file's CAR (?format=car) from the same server.
# Needs root (drop_caches) and nginx (nginx-light). Only 127.0.0.1 is used.
# Writes the "## Remote reads (issue 4)" section of BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
BUILD_DIR=${IPFSKIT_BUILD_DIR:-build}
if [ -z "${SKIP_BUILD:-}" ]; then
  if [ -f "$BUILD_DIR/build.ninja" ]; then cmake --build "$BUILD_DIR" --target ipfskit >&2
  else IPFSKIT_BUILD_DIR=$BUILD_DIR scripts/build.sh >/dev/null 2>&1; fi
fi
BIN="$PWD/$BUILD_DIR/fuse/ipfskit"
NGINX=${NGINX:-/usr/sbin/nginx}
SIZE_MB=${SIZE_MB:-256}
SMALL_FILES=${SMALL_FILES:-1000}
W=$(mktemp -d "${TMPDIR:-/var/tmp}/ipfskit-bench-gw.XXXXXX")
MNT="$W/mnt"
NGINX_PID=""
SERVE_PID=""
cleanup() {
  "$BIN" unmount "$MNT" >/dev/null 2>&1 || fusermount3 -u -z "$MNT" >/dev/null 2>&1 || true
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null || true
  [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
# Nothing but loopback: no public gateways, no Kubo probe.
export IPFSKIT_GATEWAYS="" IPFSKIT_KUBO_API=none
mkdir -p "$MNT" "$W/www/blocks" "$W/small" "$W/nginx/tmp"

# Source content in a repo of its own; its blocks become files named by CID for nginx.
SRC=(--repo "$W/src-repo" --offline)
"$BIN" "${SRC[@]}" init >/dev/null
head -c "$((SIZE_MB << 20))" /dev/urandom > "$W/www/plain.bin"
for i in $(seq -w 1 "$SMALL_FILES"); do head -c $((1024 + 10#$i * 7)) /dev/urandom > "$W/small/f$i"; done
BIG=$("$BIN" "${SRC[@]}" add -Q --cid-version 1 "$W/www/plain.bin")
SMALL=$("$BIN" "${SRC[@]}" add -Qr --cid-version 1 "$W/small")
for root in "$BIG" "$SMALL"; do "$BIN" "${SRC[@]}" dag export "$root" | split_car "$W/www/blocks"; done

start_block_nginx "$W"
URL="http://127.0.0.1:$PORT"

fresh_mount() { fresh_mount_at "$BIN" "$W/repo" "$MNT" "$URL"; }
mbs() { python3 -c "print(f'{$SIZE_MB/$1:.0f}')"; }

# (a) cold sequential read.
drop_caches
curl_s=$(curl -s -o /dev/null -w '%{time_total}' "$URL/plain.bin")
fresh_mount; drop_caches
mnt_s=$(seconds dd if="$MNT/ipfs/$BIG" of=/dev/null bs=1M status=none)
cmp "$MNT/ipfs/$BIG" "$W/www/plain.bin"
stats_a=$(cat "$MNT/.ipfskit/stats")
curl_mbs=$(mbs "$curl_s"); mnt_mbs=$(mbs "$mnt_s")
ratio=$(python3 -c "print(f'{$mnt_mbs/$curl_mbs:.2f}')")

# (b) small files, one at a time by name (no listing first, so each is a gateway fetch).
fresh_mount; drop_caches
lat=$(read_files_latency "$MNT/ipfs/$SMALL" "$SMALL_FILES")
read -r med p99 _ total <<<"$lat"
stats_b=$(cat "$MNT/.ipfskit/stats")
fresh_mount; drop_caches
catall_s=$(seconds sh -c "cat '$MNT/ipfs/$SMALL'/* > /dev/null")
diff -r "$MNT/ipfs/$SMALL" "$W/small"

# (c) ipfskit serve of the source repo: CAR streams.
SPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" "${SRC[@]}" serve --local-only --listen "127.0.0.1:$SPORT" >"$W/serve.log" 2>&1 &
SERVE_PID=$!
SURL="http://127.0.0.1:$SPORT"
for _ in $(seq 100); do curl -s -o /dev/null "$SURL/ipfs/$BIG?format=raw" && break; sleep 0.05; done
drop_caches
scurl_s=$(curl -s -o /dev/null -w '%{time_total}' "$SURL/ipfs/$BIG?format=car")
fresh_mount_at "$BIN" "$W/repo" "$MNT" "$SURL"; drop_caches
smnt_s=$(seconds dd if="$MNT/ipfs/$BIG" of=/dev/null bs=1M status=none)
cmp "$MNT/ipfs/$BIG" "$W/www/plain.bin"
stats_c=$(cat "$MNT/.ipfskit/stats")
fresh_mount_at "$BIN" "$W/repo" "$MNT" "$SURL"; drop_caches
scatall_s=$(seconds sh -c "cat '$MNT/ipfs/$SMALL'/* > /dev/null")
diff -r "$MNT/ipfs/$SMALL" "$W/small"
scurl_mbs=$(mbs "$scurl_s"); smnt_mbs=$(mbs "$smnt_s")
sratio=$(python3 -c "print(f'{$smnt_mbs/$scurl_mbs:.2f}')")
read -r c_car c_blocks <<<"$(python3 -c "import json,sys; j=json.loads(sys.argv[1])['sources']; print(j['car']['ranges'], j['car']['blocks'])" "$stats_c")"

fetches() { python3 -c "import json,sys; j=json.loads(sys.argv[1])['sources']; print(j['remote_ok'], j['prefetch']['fetched'])" "$1"; }
read -r a_ok a_pf <<<"$(fetches "$stats_a")"
verdict=$(python3 -c "print('met' if $ratio >= 0.8 else 'SHORTFALL')")
sverdict=$(python3 -c "print('met' if $sratio >= 0.8 else 'SHORTFALL')")
cverdict=$(python3 -c "print('met' if $scatall_s <= 0.06 else 'SHORTFALL')")
body="$W/section.md"
{
  echo "$(machine_line)"
  echo
  echo "Measured with \`scripts/bench-gateway.sh\`. nginx (Debian nginx-light, one worker, sendfile on) on"
  echo "127.0.0.1 serves the blocks as files named by CID at /ipfs/<cid> and the same bytes as one plain file."
  echo "Each mount is a fresh, empty repo (empty ARC cache) with \`-o gateway=URL\`; the page cache is dropped"
  echo "before each cold read. Content: CIDv1, raw 256 KiB leaves (\`add --cid-version 1\`)."
  echo
  echo "| measure | through the mount | curl of the plain file | ratio | target |"
  echo "|---|---|---|---|---|"
  echo "| cold sequential read of ${SIZE_MB} MiB, dd bs=1M (MiB/s) | $mnt_mbs | $curl_mbs | $ratio | ≥ 0.8 ($verdict) |"
  echo
  echo "(a) $a_ok blocks came from the gateway, $a_pf of them through the prefetch queue (the mount prefetches 16 leaves = 4 MiB ahead of a sequential reader)."
  echo
  echo "| ${SMALL_FILES} small files (1–8 KiB), fresh mount | value |"
  echo "|---|---|"
  echo "| open+read one at a time by name, median per file (ms) | $med |"
  echo "| same, p99 per file (ms) | $p99 |"
  echo "| same, total (s) | $total |"
  echo "| \`cat dir/*\` (the listing prefetches the children), total (s) | $catall_s |"
  echo
  echo "(c) The same through \`ipfskit serve --local-only\` of the source repo instead of nginx: a gateway that serves"
  echo "CARs, so the mount streams the file as \`dag-scope=entity&entity-bytes\` ranges ($c_car ranges brought $c_blocks blocks)"
  echo "and a listed directory's children as one tree stream. Reference: curl of the file's CAR (\`?format=car\`) from the same server."
  echo
  echo "| measure | through the mount | curl of the CAR | ratio | target |"
  echo "|---|---|---|---|---|"
  echo "| cold sequential read of ${SIZE_MB} MiB (MiB/s) | $smnt_mbs | $scurl_mbs | $sratio | ≥ 0.8 ($sverdict) |"
  echo "| \`cat dir/*\` of the ${SMALL_FILES} small files, fresh mount (s) | $scatall_s | | | ≤ 0.06 ($cverdict) |"
} > "$body"
cat "$body"
update_section "## Remote reads (issue 4)" "$body"
