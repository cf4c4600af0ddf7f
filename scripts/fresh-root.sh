#!/usr/bin/env bash
# Runs a command inside a fresh, minimal Debian 12 root, so that every missing install step
# fails here rather than on a user's machine.
#
#   scripts/fresh-root.sh [--deps] [--no-src] [--worktree] [--copy-in FILE]... [--out DIR] -- CMD...
#
#   --deps       run scripts/install-deps.sh in the root before CMD. The root as it is after
#                install-deps is cached in $IPFSKIT_ROOT_CACHE (default /var/cache/ipfskit-ci),
#                keyed by a hash of install-deps.sh and the package list it reads
#                (tests/js/package.json), the way CI systems cache by lockfile: when either
#                changes, install-deps runs again from a bare root. IPFSKIT_ROOT_CACHE=off
#                never caches. The root's ccache directory is $IPFSKIT_ROOT_CACHE/ccache too
#                (kept between runs, like a CI system's build cache): the tree is always at
#                /src, so an unchanged file compiles once per compiler.
#   --no-src     no source tree in the root (CMD runs in /); without it, /src holds a clean
#                `git archive` of HEAD and CMD runs there
#   --worktree   archive the tracked files as they are in the working tree, not HEAD
#   --copy-in F  copy file F into /in/ of the root (repeatable)
#   --out DIR    after CMD, copy the root's /out/ into DIR (also when CMD fails)
#
# The root is made with mmdebstrap --variant=minbase from the apt sources this machine uses
# (/etc/apt/sources.list.d, /etc/apt/sources.list), with the host's own apt configuration
# (proxies, options: the files no package owns), local CA certificates and npm configuration
# carried over, so the root reaches the same registries. Nothing about the host is written into
# the repository.
#
# ../shared, when it exists, appears read-only at /shared (beside /src, as the tests expect).
#
# Cleanup: the root's mounts (overlay, /dev, /proc, /sys, and every FUSE mount CMD makes) live
# in a private mount namespace and its processes in a private PID namespace. When CMD ends, or
# on Ctrl-C/SIGTERM, the kernel kills every process in it and drops every mount; then the
# root's files are removed. No state is left on the host but the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC_DIR=$PWD

deps=0 src=1 worktree=0 out="" copy_in=()
while [ $# -gt 0 ]; do
  case "$1" in
    --deps) deps=1 ;;
    --no-src) src=0 ;;
    --worktree) worktree=1 ;;
    --copy-in) copy_in+=("$(realpath "$2")"); shift ;;
    --out) out=$(realpath -m "$2"); shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fresh-root: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ $# -gt 0 ] || { echo "fresh-root: no command given (see --help)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "fresh-root: needs root (mmdebstrap, mounts, chroot)" >&2; exit 2; }
if ! command -v mmdebstrap >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >&2
fi

CACHE=${IPFSKIT_ROOT_CACHE:-/var/cache/ipfskit-ci}
# ../shared (fixtures, specs, pjdfstest) is bound read-only at /shared, beside /src, as in CI.
SHARED=""
[ -d "$SRC_DIR/../shared" ] && SHARED=$(realpath "$SRC_DIR/../shared")
mkdir -p /var/tmp
WORK=$(mktemp -d /var/tmp/ipfskit-root.XXXXXX)

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # Everything was mounted inside the namespace, which is gone once its last process is;
  # refuse to delete anything that is still a mount (a bind of /dev would take the host's).
  if findmnt -rn -o TARGET | grep -q "^$WORK"; then
    echo "fresh-root: mounts remain under $WORK; not removing it" >&2
  else
    rm -rf --one-file-system "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stage() { echo "fresh-root: $* ($(date -u +%H:%M:%S))" >&2; }

# Host apt sources and configuration for mmdebstrap.
host_apt_args() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -s "$f" ] && echo "$f"
  done
  for f in /etc/apt/apt.conf.d/*; do
    [ -f "$f" ] || continue
    dpkg -S "$f" >/dev/null 2>&1 && continue  # a package's own default, not this host's setting
    case "$f" in */docker-*) continue ;; esac
    echo "--aptopt=$f"
  done
}

# A bare minbase root in $1, with the host's registry settings.
make_bare_root() {
  local root=$1 args
  mapfile -t args < <(host_apt_args)
  local mirrors=() opts=()
  for a in "${args[@]}"; do
    case "$a" in --aptopt=*) opts+=("$a") ;; *) mirrors+=("$a") ;; esac
  done
  [ ${#mirrors[@]} -gt 0 ] || { echo "fresh-root: no apt sources on this host" >&2; exit 1; }
  stage "building a bare Debian 12 root (mmdebstrap --variant=minbase bookworm)"
  mmdebstrap --quiet --variant=minbase "${opts[@]}" bookworm "$root" "${mirrors[@]}" >&2
  [ -d /etc/apt/auth.conf.d ] && cp -a /etc/apt/auth.conf.d/. "$root/etc/apt/auth.conf.d/" 2>/dev/null || true
  if [ -d /usr/local/share/ca-certificates ]; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
  fi
  # Until the root's ca-certificates is installed, clients use the host's bundle.
  if [ -f /etc/ssl/certs/ca-certificates.crt ] && [ ! -e "$root/etc/ssl/certs/ca-certificates.crt" ]; then
    mkdir -p "$root/etc/ssl/certs"
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  fi
  [ -f /etc/npmrc ] && cp /etc/npmrc "$root/etc/npmrc"
  [ -f "$HOME/.npmrc" ] && cp "$HOME/.npmrc" "$root/root/.npmrc"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  [ -e "$root/etc/mtab" ] || ln -s ../proc/self/mounts "$root/etc/mtab"
}

# Writes the source tree into $1/src.
write_src() {
  local root=$1 rev=HEAD
  if [ "$worktree" = 1 ]; then rev=$(git -C "$SRC_DIR" stash create 2>/dev/null || true); rev=${rev:-HEAD}; fi
  mkdir -p "$root/src"
  git -C "$SRC_DIR" archive --format=tar "$rev" | tar -x -C "$root/src"
}

# Runs "$2..." in root $1 inside fresh mount and PID namespaces. With $LOWER set, the root is
# an overlay of $LOWER (read-only, the cache) and $1.upper.
run_in_root() {
  local root=$1; shift
  local cmd=$*
  local setup="set -e
    if [ -n \"\$LOWER\" ]; then
      mkdir -p \"\$ROOT.upper\" \"\$ROOT.work\" \"\$ROOT\"
      mount -t overlay overlay -o lowerdir=\"\$LOWER\",upperdir=\"\$ROOT.upper\",workdir=\"\$ROOT.work\" \"\$ROOT\"
    fi
    if [ -n \"\$SHARED\" ]; then
      mkdir -p \"\$ROOT/shared\"
      mount --bind \"\$SHARED\" \"\$ROOT/shared\" && mount -o remount,bind,ro \"\$ROOT/shared\"
    fi
    mount --rbind /dev \"\$ROOT/dev\"
    mount -t proc proc \"\$ROOT/proc\"
    mount --rbind /sys \"\$ROOT/sys\"
    mount -t tmpfs -o size=50% tmpfs \"\$ROOT/dev/shm\" 2>/dev/null || true
    if [ -n \"\$CCACHE_HOST\" ]; then
      mkdir -p \"\$ROOT/var/cache/ccache\"
      mount --bind \"\$CCACHE_HOST\" \"\$ROOT/var/cache/ccache\"
    fi
    exec chroot \"\$ROOT\" /usr/bin/env -i HOME=/root TERM=\"\${TERM:-dumb}\" LANG=C.UTF-8 \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin CI=\"\${CI:-}\" \
      IPFSKIT_TEST_FRESH_ROOT=1 \${CCACHE_HOST:+CCACHE_DIR=/var/cache/ccache CCACHE_MAXSIZE=12G} \
      /bin/bash -c \"\$CMD\""
  ROOT=$root LOWER=${LOWER:-} CMD=$cmd SHARED=$SHARED CCACHE_HOST=${CCACHE_HOST:-} \
    unshare --mount --propagation private --pid --fork --kill-child=SIGKILL /bin/bash -c "$setup"
}

key_of_deps() {
  cat scripts/install-deps.sh tests/js/package.json | sha256sum | cut -c1-16
}

ROOT="$WORK/root"
LOWER=""
CCACHE_HOST=""
if [ "$CACHE" != off ]; then CCACHE_HOST=$CACHE/ccache; mkdir -p "$CCACHE_HOST"; fi
t0=$(date +%s)
if [ "$deps" = 1 ]; then
  key=$(key_of_deps)
  cached="$CACHE/deps-$key"
  if [ "$CACHE" != off ] && [ -d "$cached" ]; then
    stage "restoring the cached root $cached (install-deps.sh unchanged)"
    LOWER=$cached
  else
    stage "no cached root for install-deps key $key"
    prep="$WORK/prep"
    make_bare_root "$prep"
    write_src "$prep"
    stage "install-deps in the bare root"
    t1=$(date +%s)
    run_in_root "$prep" "cd /src && scripts/install-deps.sh"
    stage "install-deps took $(( $(date +%s) - t1 )) s"
    rm -rf "$prep/src"
    if [ "$CACHE" != off ]; then
      mkdir -p "$CACHE"
      rm -rf "$CACHE"/deps-*.tmp "$CACHE"/deps-*  # one key at a time
      mv "$prep" "$cached.tmp" && mv "$cached.tmp" "$cached"
      LOWER=$cached
    else
      mv "$prep" "$ROOT"
    fi
  fi
else
  make_bare_root "$ROOT"
fi
mkdir -p "$ROOT"
if [ -n "$LOWER" ]; then
  # The overlay is mounted inside the namespace; write the tree into the upper layer now.
  mkdir -p "$ROOT.upper"
  [ "$src" = 1 ] && write_src "$ROOT.upper"
  if [ ${#copy_in[@]} -gt 0 ]; then mkdir -p "$ROOT.upper/in" && cp "${copy_in[@]}" "$ROOT.upper/in/"; fi
  mkdir -p "$ROOT.upper/out"
else
  [ "$src" = 1 ] && write_src "$ROOT"
  if [ ${#copy_in[@]} -gt 0 ]; then mkdir -p "$ROOT/in" && cp "${copy_in[@]}" "$ROOT/in/"; fi
  mkdir -p "$ROOT/out"
fi
stage "root ready in $(( $(date +%s) - t0 )) s; running: $*"
cmd="$*"
[ "$src" = 1 ] && cmd="cd /src && $cmd"
rc=0
run_in_root "$ROOT" "$cmd" || rc=$?
if [ -n "$out" ]; then
  mkdir -p "$out"
  if [ -n "$LOWER" ]; then cp -a "$ROOT.upper/out/." "$out/" 2>/dev/null || true
  else cp -a "$ROOT/out/." "$out/" 2>/dev/null || true; fi
fi
stage "command exited $rc"
exit "$rc"
