#!/usr/bin/env bash
# check-packages.sh BUILD_DIR: builds the deb and rpm with CPack in BUILD_DIR (already built) and
# checks what a packaged FUSE daemon must ship: the same files in .deb and .rpm, Requires fuse3
# and otherwise soname-style names, no lintian errors, man pages that render, bash completion
# that loads, systemd units that `systemd-analyze verify` accepts. Needs dpkg-dev, rpm, lintian,
# man-db, bash-completion, systemd (scripts/install-deps.sh).
set -euo pipefail
build=$(realpath "${1:?usage: check-packages.sh BUILD_DIR}")
src=$(cd "$(dirname "$0")/.." && pwd)
for tool in cpack dpkg-deb rpm rpmbuild lintian man systemd-analyze; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (scripts/install-deps.sh)"; exit 77; }
done
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }
ok() { echo "ok: $*"; }

cd "$build"
rm -f ./ipfskit*.deb ./ipfskit*.rpm
cpack -G DEB >/dev/null
cpack -G RPM >/dev/null
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' CPackConfig.cmake)
deb=ipfskit_${version}_amd64.deb
rpm=$(ls ipfskit-"${version}"-*.rpm | grep -v '^ipfskit-cuda' | head -1)
[ -f "$deb" ] && ok "$deb" || bad "no $deb (have: $(ls ./*.deb 2>/dev/null))"
[ -f "$rpm" ] && ok "$rpm" || bad "no main rpm"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Same files (not directories: dpkg lists every parent, rpm only those it owns) in both.
dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./|/|' | grep -v '/$' | sort > "$tmp/deb.files"
rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$rpm" | grep -v '^d' | cut -d' ' -f2- | sort > "$tmp/rpm.files"
if diff -u "$tmp/deb.files" "$tmp/rpm.files"; then ok "deb and rpm hold the same $(wc -l < "$tmp/deb.files") files"
else bad "file lists differ (- deb, + rpm)"; fi
for f in /usr/bin/ipfskit /usr/share/man/man1/ipfskit.1.gz /usr/share/man/man5/ipfskit.conf.5.gz \
         /usr/share/bash-completion/completions/ipfskit /usr/lib/systemd/system/ipfskit.service \
         /usr/lib/systemd/system/ipfskit-republish.service /usr/lib/systemd/system/ipfskit-republish.timer \
         /usr/lib/systemd/user/ipfskit.service /usr/sbin/mount.fuse.ipfskit /etc/ipfskit/config.json \
         /usr/share/doc/ipfskit/copyright /usr/share/doc/ipfskit/changelog.gz; do
  grep -qx "$f" "$tmp/deb.files" || bad "$f missing from the packages"
done

# Config file survives upgrades in both formats.
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/ipfskit/config.json \
  && ok "deb conffile /etc/ipfskit/config.json" || bad "/etc/ipfskit/config.json is not a deb conffile"
rpm -qp --configfiles "$rpm" | grep -qx /etc/ipfskit/config.json \
  && ok "rpm %config /etc/ipfskit/config.json" || bad "/etc/ipfskit/config.json is not %config in the rpm"
[ "$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm" | sed -n 's| /etc/ipfskit/config.json$||p')" = cn ] \
  || bad "/etc/ipfskit/config.json is not %config(noreplace)"

# Requires: fuse3, then sonames (libfoo.so.N()(64bit)), rpmlib() and /bin/sh-style paths only.
rpm -qpR "$rpm" > "$tmp/requires"
grep -qx 'fuse3' "$tmp/requires" && ok "rpm Requires fuse3" || bad "rpm does not require fuse3"
if grep -vE '^(fuse3|lib[^ ]+\.so(\.[0-9]+)*(\([^)]*\))*(\(64bit\))?|(rpmlib|rtld|config)\(.*|/[^ ]+)( .*)?$' "$tmp/requires"; then
  bad "rpm Requires has names that are neither sonames nor standard (above)"
else ok "rpm Requires: $(grep -c . "$tmp/requires") soname-style entries"; fi
dpkg-deb -f "$deb" Depends | grep -q 'fuse3' && ok "deb Depends: $(dpkg-deb -f "$deb" Depends)" \
  || bad "deb does not depend on fuse3"

# lintian: no errors (kept warnings: packaging/lintian-notes.md).
lintian --tag-display-limit 0 "$deb" > "$tmp/lintian" 2>&1 || true
cat "$tmp/lintian"
if grep -q '^E:' "$tmp/lintian"; then bad "lintian errors"; else ok "lintian: no errors"; fi

# Installed tree: man pages render, completion loads, units verify.
root=$tmp/root
dpkg-deb -x "$deb" "$root"
for page in man1/ipfskit.1.gz man5/ipfskit.conf.5.gz; do
  out=$(MANWIDTH=80 man -l "$root/usr/share/man/$page" 2>"$tmp/man.err" | col -b) || true
  if [ -s "$tmp/man.err" ] || [ "$(grep -c . <<<"$out")" -lt 20 ]; then
    bad "man -l $page: $(head -3 "$tmp/man.err")"
  else ok "man -l $page renders ($(grep -c . <<<"$out") lines)"; fi
done
page=$(man -l "$root/usr/share/man/man1/ipfskit.1.gz" 2>/dev/null | col -b)
grep -q 'ipfskit mount' <<<"$page" || bad "ipfskit(1) lacks the mount command"
for cmd in $("$root/usr/bin/ipfskit" --help | sed -n '/^[Ss][Uu][Bb][Cc][Oo][Mm][Mm][Aa][Nn][Dd][Ss]:/,/^$/p' | awk 'NR > 1 && /^  [a-z]/ {sub(",", "", $1); print $1}'); do
  grep -q "'$cmd')" "$root/usr/share/bash-completion/completions/ipfskit" || bad "completion lacks $cmd"
done
got=$(bash -c 'source /usr/share/bash-completion/bash_completion 2>/dev/null; source "$1"
  COMP_WORDS=(ipfskit pin ""); COMP_CWORD=2; COMP_LINE="ipfskit pin "; COMP_POINT=${#COMP_LINE}
  _ipfskit ipfskit "" pin; echo "${COMPREPLY[*]}"' _ "$root/usr/share/bash-completion/completions/ipfskit")
[[ " $got " == *" add "* && " $got " == *" ls "* ]] && ok "bash completion: ipfskit pin <TAB> -> $got" \
  || bad "bash completion of 'ipfskit pin ' gave '$got'"

# systemd-analyze verify checks that the Exec*= binaries exist (relative to --root, which needs
# the system's own units beside ours) and, through MANPATH, that the Documentation= pages do.
cp -rn /lib/systemd/system/. "$root/usr/lib/systemd/system/"
mkdir -p "$root/bin" "$tmp/run" && chmod 700 "$tmp/run"
cp -n /bin/mkdir "$root/bin/mkdir"
verify() {  # verify LABEL ARGS...
  local label=$1; shift
  if ! (cd "$tmp" && MANPATH=$root/usr/share/man SYSTEMD_LOG_LEVEL=notice XDG_RUNTIME_DIR=$tmp/run \
        systemd-analyze "$@") > "$tmp/verify" 2>&1 || grep -q . "$tmp/verify"; then
    cat "$tmp/verify" >&2
    bad "systemd-analyze verify $label"
  else ok "systemd-analyze verify $label"; fi
}
verify "system ipfskit.service" verify --root="$root" "$root/usr/lib/systemd/system/ipfskit.service"
verify "system ipfskit-republish.service and .timer" verify --root="$root" \
  "$root/usr/lib/systemd/system/ipfskit-republish.service" "$root/usr/lib/systemd/system/ipfskit-republish.timer"
# --user has no --root: check a copy that runs the packaged binary where it lies.
mkdir -p "$tmp/user"
sed "s|/usr/bin/ipfskit|$root/usr/bin/ipfskit|g" "$root/usr/lib/systemd/user/ipfskit.service" \
  > "$tmp/user/ipfskit.service"
verify "user ipfskit.service" --user verify "$tmp/user/ipfskit.service"

# The CUDA plugin package, when the build has one.
for pkg in ipfskit-cuda_"${version}"_amd64.deb; do
  [ -f "$pkg" ] || continue
  dpkg-deb -f "$pkg" Depends | grep -q "^ipfskit (= $version)" && ok "$pkg depends on ipfskit (= $version)" \
    || bad "$pkg Depends: $(dpkg-deb -f "$pkg" Depends)"
  rpm -qpR ipfskit-cuda-"${version}"-*.rpm | grep -q 'libcudart' && bad "ipfskit-cuda rpm requires libcudart"
  lintian --tag-display-limit 0 "$pkg" > "$tmp/lintian-cuda" 2>&1 || true
  grep '^[EW]:' "$tmp/lintian-cuda" || true
  if grep -q '^E:' "$tmp/lintian-cuda"; then bad "lintian errors in $pkg"; else ok "lintian $pkg: no errors"; fi
done

[ $fail = 0 ] && echo "packages OK" || echo "packages: FAILED" >&2
exit $fail
