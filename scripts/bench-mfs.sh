#!/usr/bin/env bash
# /mfs write benchmarks (issue 5), side by side in one run on one disk:
#   1. sequential write of 1 GiB with `dd bs=1M conv=fsync` into /mfs, into a plain directory,
#      and `ipfskit add` of the same file into a fresh repo (target: /mfs >= 0.5x add);
#   2. extracting a tarball of 10,000 small files into /mfs and into a plain directory
#      (target: /mfs <= 5x plain), then making /mfs durable (fsync of the directory).
# Usage: scripts/bench-mfs.sh [BUILD_DIR] (default build). BENCH_DIR picks the scratch
# directory (default: a new one under /var/tmp); SIZE_MIB changes the 1 GiB.
set -euo pipefail

BUILD=${1:-build}
BIN=$(cd "$BUILD" && pwd)/fuse/ipfskit
[ -x "$BIN" ] || { echo "no ipfskit binary at $BIN (build first)" >&2; exit 1; }
SIZE_MIB=${SIZE_MIB:-1024}
NFILES=10000
W=${BENCH_DIR:-$(mktemp -d /var/tmp/ipfskit-bench-mfs.XXXXXX)}
mkdir -p "$W"
MNT=$W/mnt
export IPFSKIT_GATEWAYS="" IPFSKIT_KUBO_API=none

cleanup() {
  if grep -q " $MNT " /proc/mounts; then fusermount3 -u -z "$MNT" || true; fi
  rm -rf "$W"
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
rate() { awk -v mib="$1" -v s="$2" 'BEGIN { printf "%.0f", mib / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "machine: $(lscpu | grep 'Model name' | sed 's/.*: *//'), $(nproc) cores; date: $(date -u +%F)"
echo "scratch: $W ($(df -h --output=source "$W" | tail -1))"

echo "preparing ${SIZE_MIB} MiB of random data and a ${NFILES}-file tarball..."
head -c $((SIZE_MIB << 20)) /dev/urandom > "$W/big"
mkdir -p "$W/small"
python3 - "$W/small" "$NFILES" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(5)
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(rng.randbytes(rng.randint(100, 4000)))
EOF
tar cf "$W/small.tar" -C "$W" small
rm -rf "$W/small"
sync

"$BIN" --repo "$W/repo" init >/dev/null
mkdir -p "$MNT" "$W/plain"
"$BIN" --repo "$W/repo" mount "$MNT" -o offline
for _ in $(seq 100); do [ -d "$MNT/mfs" ] && break; sleep 0.05; done

# 1. Sequential write.
t0=$(now); dd if="$W/big" of="$W/plain/big" bs=1M conv=fsync status=none; t1=$(now)
plain_s=$(secs "$t0" "$t1")
t0=$(now); dd if="$W/big" of="$MNT/mfs/big" bs=1M conv=fsync status=none; t1=$(now)
mfs_s=$(secs "$t0" "$t1")
"$BIN" --repo "$W/addrepo" init >/dev/null
t0=$(now); add_cid=$("$BIN" --repo "$W/addrepo" add -Q "$W/big"); t1=$(now)
add_s=$(secs "$t0" "$t1")
mfs_cid=$(getfattr --absolute-names --only-values -n user.ipfs.cid "$MNT/mfs/big")
[ "$mfs_cid" = "$add_cid" ] || { echo "CID mismatch: /mfs $mfs_cid, add $add_cid" >&2; exit 1; }
echo
echo "sequential write of ${SIZE_MIB} MiB (dd bs=1M conv=fsync):"
echo "  plain dir      ${plain_s} s  $(rate "$SIZE_MIB" "$plain_s") MiB/s"
echo "  /mfs           ${mfs_s} s  $(rate "$SIZE_MIB" "$mfs_s") MiB/s"
echo "  ipfskit add    ${add_s} s  $(rate "$SIZE_MIB" "$add_s") MiB/s"
echo "  /mfs speed vs add: $(ratio "$add_s" "$mfs_s")x (target >= 0.5x); vs plain: $(ratio "$plain_s" "$mfs_s")x"
echo "  CIDs equal: $mfs_cid"
rm -f "$W/plain/big" "$MNT/mfs/big"

# 2. Many small files.
sync
t0=$(now); tar xf "$W/small.tar" -C "$W/plain"; t1=$(now)
tplain=$(secs "$t0" "$t1")
t0=$(now); sync -f "$W/plain"; t1=$(now)
tplain_sync=$(secs "$t0" "$t1")
t0=$(now); tar xf "$W/small.tar" -C "$MNT/mfs"; t1=$(now)
tmfs=$(secs "$t0" "$t1")
# Durable: fsync on any /mfs file commits the whole tree.
t0=$(now); python3 -c "import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)" "$MNT/mfs/small/d000/f00000"; t1=$(now)
tmfs_sync=$(secs "$t0" "$t1")
diff -r "$W/plain/small" "$MNT/mfs/small" >/dev/null || { echo "extracted trees differ" >&2; exit 1; }
echo
echo "tar x of ${NFILES} small files (100-4000 bytes, 100 directories):"
echo "  plain dir      ${tplain} s  (+ ${tplain_sync} s sync)"
echo "  /mfs           ${tmfs} s  (+ ${tmfs_sync} s fsync = commit of the tree)"
echo "  /mfs time vs plain: $(ratio "$tmfs" "$tplain")x (target <= 5x)"
