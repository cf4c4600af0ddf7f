#!/usr/bin/env bash
# The main job on the embedded default: installs what is missing, builds, adds a sample
# directory to the local repo ($IPFSKIT_PATH or ~/.local/share/ipfskit) and mounts ipfskit at
# a mount point it names. No Kubo daemon, no network (the mount runs --offline).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
BIN="$PWD/${IPFSKIT_BUILD_DIR:-build}/fuse/ipfskit"
MNT=${IPFSKIT_MOUNTPOINT:-${XDG_RUNTIME_DIR:-/tmp}/ipfskit-mnt}

# A small sample tree, the same bytes every run, so it gets the same CID every run.
SAMPLE=$(mktemp -d)
trap 'rm -rf "$SAMPLE"' EXIT
mkdir -p "$SAMPLE/ipfskit-sample/docs" "$SAMPLE/ipfskit-sample/data"
cat > "$SAMPLE/ipfskit-sample/README.txt" <<'TXT'
This directory was added by scripts/run.sh with `ipfskit add -r`.
Every file and directory here has a CID; the same bytes give the same CID as Kubo's `ipfs add`.
TXT
printf 'hello world\n' > "$SAMPLE/ipfskit-sample/docs/hello.txt"
seq 1 200000 > "$SAMPLE/ipfskit-sample/data/numbers.txt"
ln -s docs/hello.txt "$SAMPLE/ipfskit-sample/hello-link"

"$BIN" repo stat >/dev/null 2>&1 || "$BIN" init  # init refuses an existing repo
echo "== ipfskit add -r (output as Kubo prints it)"
"$BIN" add -r "$SAMPLE/ipfskit-sample"
ROOT=$("$BIN" add -Qr "$SAMPLE/ipfskit-sample")
echo "== ipfskit ls $ROOT"
"$BIN" ls "$ROOT"
echo "== ipfskit cat $ROOT/docs/hello.txt"
"$BIN" cat "$ROOT/docs/hello.txt"

mkdir -p "$MNT"
if grep -q " $MNT fuse.ipfskit " /proc/mounts; then "$BIN" unmount "$MNT" || true; fi
"$BIN" --offline mount "$MNT"
echo
echo "== mounted at $MNT (offline). Try:"
echo "   ls $MNT                      # ipfs ipns mfs infer .ipfskit"
echo "   ls -l $MNT/ipfs/$ROOT"
echo "   cat $MNT/ipfs/$ROOT/docs/hello.txt"
echo "   getfattr -n user.ipfs.cid $MNT/ipfs/$ROOT/docs/hello.txt"
echo "   cat $MNT/.ipfskit/stats"
echo "   $BIN unmount $MNT            # when done"
ls -l "$MNT/ipfs/$ROOT"
