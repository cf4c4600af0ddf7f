#!/usr/bin/env bash
# Run as root inside a bare Debian 12 root (scripts/fresh-root.sh --no-src) with the .deb in
# /in: installs it with apt (dependencies from the archive, nothing preinstalled), initialises a
# repo, adds a file, mounts it through an /etc/fstab line and through `mount -t fuse.ipfskit`,
# reads the file back byte-exact, unmounts, renders the man page, then purges the package and
# checks that nothing but the user's repo is left behind. When /in also holds ipfskit-cuda_*.deb,
# it is installed too: the CUDA runtime is not there (no Debian package has it), so ipfskit must
# still run, and inference must fall back to the CPU with its one-line notice.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
step() { echo "=== package-smoke: $*"; }
fail() { echo "package-smoke: FAILED: $*" >&2; exit 1; }

deb=$(ls /in/ipfskit_*.deb | head -1)
[ -f "$deb" ] || fail "no ipfskit_*.deb in /in"
cuda_deb=$(ls /in/ipfskit-cuda_*.deb 2>/dev/null | head -1 || true)

snapshot() {  # every path outside the places apt, the test and the kernel write to
  find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /in -o -path /out -o -path /tmp \
    -o -path /var/lib/apt -o -path /var/cache -o -path /var/log -o -path /var/lib/dpkg -o -path /root \
    -o -path /mnt -o -path /run -o -path /etc/ld.so.cache -o -path /var/lib/systemd \
    -o -path /etc/fstab \) -prune -o -print | sort
}

step "apt-get install ./$(basename "$deb")"
apt-get update -qq
# man-db only to render the page; installed first so the snapshot holds it.
apt-get install -y -qq --no-install-recommends man-db > /dev/null 2>&1
snapshot > /tmp/before.txt
apt-get install -y -qq --no-install-recommends "$deb" > /tmp/apt.log 2>&1 || { cat /tmp/apt.log; fail "apt-get install"; }
command -v ipfskit
ipfskit version
if [ -n "$cuda_deb" ]; then
  step "apt-get install ./$(basename "$cuda_deb") (no CUDA runtime on this root)"
  apt-get install -y -qq --no-install-recommends "$cuda_deb" > /tmp/apt-cuda.log 2>&1 || { cat /tmp/apt-cuda.log; fail "apt-get install ipfskit-cuda"; }
  [ -f /usr/lib/ipfskit/ipfskit-cuda.so ] || fail "ipfskit-cuda did not install the plugin"
  ! ldd /usr/bin/ipfskit | grep -i cuda || fail "ipfskit links a CUDA library"
  ipfskit version > /dev/null || fail "ipfskit does not start with ipfskit-cuda installed"
fi

step "init, add"
export IPFSKIT_PATH=/root/.local/share/ipfskit
ipfskit init
head -c 3000000 /dev/urandom > /tmp/payload.bin
cid=$(ipfskit add -Q /tmp/payload.bin)
echo "added $cid"

if [ -n "$cuda_deb" ]; then
  # The engine is made before the model is looked up: the notice comes, then the model error.
  echo hello | ipfskit --offline infer bafkqaaa - > /dev/null 2> /tmp/infer.err && fail "infer of a non-model succeeded"
  cat /tmp/infer.err
  grep -q "CUDA backend not used (.*); using CPU" /tmp/infer.err || fail "no CPU fallback notice"
  [ "$(grep -c 'CUDA backend not used' /tmp/infer.err)" = 1 ] || fail "the notice is not one line"
fi

step "mount through /etc/fstab"
mkdir -p /mnt/ipfs /mnt/ipfs2
echo "ipfskit  /mnt/ipfs  fuse.ipfskit  repo=$IPFSKIT_PATH,offline,nofail,_netdev  0  0" >> /etc/fstab
timeout 60 mount /mnt/ipfs
grep " /mnt/ipfs fuse.ipfskit " /proc/mounts || fail "fstab mount not in /proc/mounts"
cmp /tmp/payload.bin "/mnt/ipfs/ipfs/$cid" || fail "bytes differ through the fstab mount"
timeout 60 umount /mnt/ipfs
! grep -q " /mnt/ipfs " /proc/mounts || fail "still mounted after umount"

step "mount -t fuse.ipfskit"
timeout 60 mount -t fuse.ipfskit ipfskit /mnt/ipfs2 -o "repo=$IPFSKIT_PATH,offline"
cmp /tmp/payload.bin "/mnt/ipfs2/ipfs/$cid" || fail "bytes differ through mount -t"
timeout 60 ipfskit unmount /mnt/ipfs2
! grep -q " /mnt/ipfs2 " /proc/mounts || fail "still mounted after ipfskit unmount"

step "man ipfskit renders"
man -P cat ipfskit > /tmp/man.txt 2>/tmp/man.err || { cat /tmp/man.err; fail "man ipfskit"; }
grep -q "ipfskit" /tmp/man.txt && [ "$(wc -l < /tmp/man.txt)" -gt 20 ] || fail "man page is empty"

step "apt-get purge ipfskit"
apt-get purge -y -qq ipfskit ${cuda_deb:+ipfskit-cuda} > /tmp/purge.log 2>&1 || { cat /tmp/purge.log; fail "apt-get purge"; }
apt-get autoremove --purge -y -qq > /dev/null 2>&1
hash -r; [ ! -e /usr/bin/ipfskit ] && ! command -v ipfskit >/dev/null || fail "ipfskit still installed after purge"
snapshot > /tmp/after.txt
if ! diff /tmp/before.txt /tmp/after.txt > /tmp/left.txt; then
  cat /tmp/left.txt
  fail "files left behind (or removed) by install + purge"
fi
[ -d "$IPFSKIT_PATH" ] || fail "the user's repo was removed"
step "passed"
