#!/usr/bin/env bash
# gen-man.sh IPFSKIT_BINARY OUT_DIR VERSION: writes ipfskit.1.gz (help2man over --help and
# help-all) and ipfskit.conf.5.gz (from help-config): the text the binary prints, so the pages
# match the CLI.
set -euo pipefail
bin=$(realpath "$1") out=$2 version=$3
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Pinned so the pages (and the packages) do not change with the build machine's locale or date.
export LC_ALL=C.UTF-8 SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$src" log -1 --format=%ct 2>/dev/null || echo 0)}
unset IPFSKIT_PATH

# Roff-quote verbatim help text: backslashes, and lines starting with . or ' (requests).
quote() { sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"; }

# ipfskit(1): --help as the body, every command's --help as COMMANDS, plus the hand-written
# DESCRIPTION, SYSTEMD, FILES and SEE ALSO sections of ipfskit.1.h2m.
{
  cat "$src/ipfskit.1.h2m"
  echo '[COMMANDS]'
  echo 'Each command'"'"'s own \fB\-\-help\fR, as printed by \fBipfskit help\-all\fR.'
  "$bin" help-all | quote | awk '
    /^### / { if (n++) print ".fi"; sub(/^### /, ""); printf ".SS \"%s\"\n.nf\n", $0; next }
    { print }
    END { if (n) print ".fi" }'
} > "$tmp/ipfskit.h2m"
help2man --no-info --no-discard-stderr --version-string="$version" \
  --name="IPFS as a FUSE filesystem, with a Kubo-like command line" \
  --include="$tmp/ipfskit.h2m" --output="$tmp/ipfskit.1" "$bin"

# ipfskit.conf(5): from help-config, whose layout (see cmd_help.cpp) maps to roff directly;
# help2man would reflow its lists and tables.
{
  printf '.TH IPFSKIT.CONF 5 "%s" "ipfskit %s" "File Formats"\n' \
    "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)" "$version"
  printf '.SH NAME\nipfskit.conf \\- configuration file of ipfskit(1)\n'
  printf '.SH SYNOPSIS\n.I /etc/ipfskit/config.json\n.br\n.I $IPFSKIT_PATH/config.json\n'
  printf '.SH DESCRIPTION\n'
  "$bin" help-config | quote | awk '
    function endverb() { if (verb) print ".fi\n.RE"; verb = 0 }
    /^$/ { if (verb) print ""; else blank = 1; next }
    /^[A-Z][^ ]*( [^ ]+)*:$/ {
      endverb(); sub(/:$/, ""); print ".SH " toupper($0); section = $0; blank = 0; next }
    section == "Keys" && /^  [^ ]/ {
      endverb(); sub(/^  /, ""); key = $1; $1 = ""; print ".TP\n.B " key "\n" substr($0, 2); next }
    section == "Keys" && /^      / { sub(/^ +/, ""); if (/^[.\047]/) $0 = "\\&" $0; print; next }
    /^  / { if (!verb) print ".RS 2\n.nf"; verb = 1; sub(/^  /, ""); print; next }
    { endverb(); if (blank) print ".PP"; blank = 0; print }
    END { endverb() }'
} > "$tmp/ipfskit.conf.5"

for page in ipfskit.1 ipfskit.conf.5; do
  gzip -9n < "$tmp/$page" > "$out/$page.gz"
done
