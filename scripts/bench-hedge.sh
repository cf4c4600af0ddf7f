#!/usr/bin/env bash
# Issue 13 §2 benchmark: a fresh mount whose first gateway stalls (accepts, never answers) and
# whose second is a loopback nginx, reading FILES (200) small files one at a time by name, with
# hedged fetches (net.hedge_after_ms, default 250) and without (0), in the same run; and the
# same files through a mount with nginx alone, the floor. Per-file median, p99 and total.
# Needs nginx (nginx-light). Only 127.0.0.1 is used.
# Writes the "## Hedged fetches (issue 13)" section of BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
BUILD_DIR=${IPFSKIT_BUILD_DIR:-build}
[ -n "${SKIP_BUILD:-}" ] || IPFSKIT_BUILD_DIR=$BUILD_DIR scripts/build.sh >/dev/null 2>&1
BIN="$PWD/$BUILD_DIR/fuse/ipfskit"
FILES=${FILES:-200}
HEDGE_MS=${HEDGE_MS:-250}
W=$(mktemp -d "${TMPDIR:-/var/tmp}/ipfskit-bench-hedge.XXXXXX")
MNT="$W/mnt"
NGINX_PID="" STALL_PID=""
cleanup() {
  "$BIN" unmount "$MNT" >/dev/null 2>&1 || fusermount3 -u -z "$MNT" >/dev/null 2>&1 || true
  for p in "$NGINX_PID" "$STALL_PID"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT
export IPFSKIT_GATEWAYS="" IPFSKIT_KUBO_API=none
mkdir -p "$MNT" "$W/www/blocks" "$W/small"

SRC=(--repo "$W/src-repo" --offline)
"$BIN" "${SRC[@]}" init >/dev/null
for i in $(seq -w 1 "$FILES"); do head -c $((1024 + 10#$i * 13)) /dev/urandom > "$W/small/f$i"; done
SMALL=$("$BIN" "${SRC[@]}" add -Qr --cid-version 1 "$W/small")
"$BIN" "${SRC[@]}" dag export "$SMALL" | split_car "$W/www/blocks"
rm -rf "$W/src-repo"
start_block_nginx "$W"
GOOD="http://127.0.0.1:$PORT"

# The stalling gateway: accepts every connection and reads, never answers (for at most 10 min).
python3 -c '
import socket, sys, threading, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(128)
print(s.getsockname()[1], flush=True)
held = []
def drain(c):
    try:
        while c.recv(65536): pass
    except OSError: pass
deadline = time.time() + 600
s.settimeout(1)
while time.time() < deadline:
    try: c, _ = s.accept()
    except socket.timeout: continue
    held.append(c); threading.Thread(target=drain, args=(c,), daemon=True).start()
' > "$W/stall.port" &
STALL_PID=$!
for _ in $(seq 100); do [ -s "$W/stall.port" ] && break; sleep 0.05; done
STALL="http://127.0.0.1:$(cat "$W/stall.port")"

# mount_with HEDGE_MS GATEWAY...: a fresh repo with that hedge delay, mounted with the gateways
# in that order.
mount_with() {
  local hedge=$1; shift
  "$BIN" unmount "$MNT" >/dev/null 2>&1 || true
  rm -rf "$W/repo"
  "$BIN" --repo "$W/repo" init >/dev/null
  echo "{\"net\": {\"hedge_after_ms\": $hedge}}" > "$W/repo/config.json"
  local opts=()
  for g in "$@"; do opts+=(-o "gateway=$g"); done
  "$BIN" --repo "$W/repo" mount "$MNT" "${opts[@]}"
}
read_files() { read_files_latency "$MNT/ipfs/$SMALL" "$FILES"; }
hedge_stats() {
  python3 -c "import json,sys; j=json.load(open(sys.argv[1]))['sources']; print(j['hedged'], j['hedge_wins'])" "$MNT/.ipfskit/stats"
}

mount_with "$HEDGE_MS" "$GOOD"
read -r f_med f_p99 f_max f_total <<<"$(read_files)"
diff -r "$MNT/ipfs/$SMALL" "$W/small"
# nginx twice: every fetch goes through the hedged path and no hedge fires (its own cost).
mount_with "$HEDGE_MS" "$GOOD" "$GOOD/"
read -r d_med d_p99 d_max d_total <<<"$(read_files)"
mount_with "$HEDGE_MS" "$STALL" "$GOOD"
read -r h_med h_p99 h_max h_total <<<"$(read_files)"
read -r h_hedged h_wins <<<"$(hedge_stats)"
diff -r "$MNT/ipfs/$SMALL" "$W/small"
mount_with 0 "$STALL" "$GOOD"
read -r s_med s_p99 s_max s_total <<<"$(read_files)"
diff -r "$MNT/ipfs/$SMALL" "$W/small"
"$BIN" unmount "$MNT"

body="$W/section.md"
{
  echo "$(machine_line)"
  echo
  echo "Measured with \`scripts/bench-hedge.sh\`: $FILES small files (1–3.6 KiB, CIDv1) read one at a time by"
  echo "name through a fresh mount (empty repo and cache). The stalling gateway accepts and never answers; the"
  echo "other is nginx serving the blocks; the mount's stall limit is the default (net.low_speed_seconds 5)."
  echo
  echo "| gateways (in order) | hedge_after_ms | median (ms) | p99 (ms) | worst (ms) | total (s) |"
  echo "|---|---|---|---|---|---|"
  echo "| nginx alone (the floor) | $HEDGE_MS | $f_med | $f_p99 | $f_max | $f_total |"
  echo "| nginx twice (the hedged path's own cost) | $HEDGE_MS | $d_med | $d_p99 | $d_max | $d_total |"
  echo "| stalling, then nginx: hedged | $HEDGE_MS | $h_med | $h_p99 | $h_max | $h_total |"
  echo "| stalling, then nginx: one after another | 0 | $s_med | $s_p99 | $s_max | $s_total |"
  echo
  echo "Hedged: $h_hedged extra requests, $h_wins of them answered first. Without hedging each read that asks"
  echo "the stalled gateway waits for the stall limit; it is then backed off, and asked again when the backoff ends."
} > "$body"
cat "$body"
update_section "## Hedged fetches (issue 13)" "$body"
