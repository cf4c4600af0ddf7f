# Helpers shared by the bench-*.sh scripts (sourced).

# machine_line: the machine and date, for BENCHMARKS.md.
machine_line() {
  local cpu
  cpu=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
  echo "Machine: ${cpu:-unknown CPU}, $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(uname -r). Date: $(date -u +%Y-%m-%d)."
}

# update_section "## Title" FILE: replaces the section with that heading in BENCHMARKS.md (up to
# the next "## " heading) with the contents of FILE, or appends it.
update_section() {
  local title=$1 body=$2 md=${BENCHMARKS_MD:-BENCHMARKS.md}
  [ -f "$md" ] || printf '# Benchmarks\n\nFigures from scripts/bench-*.sh; each section says its machine and date.\n' > "$md"
  python3 - "$md" "$title" "$body" <<'PY'
import sys
md, title, body = sys.argv[1], sys.argv[2], open(sys.argv[3]).read().rstrip() + "\n"
lines = open(md).read().split("\n")
out, i, done = [], 0, False
while i < len(lines):
    if lines[i].strip() == title.strip():
        out.append(title); out.extend(body.rstrip("\n").split("\n")); out.append("")
        i += 1
        while i < len(lines) and not lines[i].startswith("## "):
            i += 1
        done = True
        continue
    out.append(lines[i]); i += 1
if not done:
    if out and out[-1] != "": out.append("")
    out.append(title); out.extend(body.rstrip("\n").split("\n")); out.append("")
open(md, "w").write("\n".join(out).rstrip("\n") + "\n")
PY
}

# seconds CMD...: wall-clock seconds of a command, to 3 decimals.
seconds() {
  local t0 t1
  t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N)
  python3 -c "print(f'{$t1-$t0:.3f}')"
}

drop_caches() {
  sync
  echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "(could not drop the page cache: not root?)" >&2
}

# start_block_nginx W: nginx (as tests/fakes/nginx.h, with the usual production file-serving
# settings) serving W/www/blocks/<cid> at /ipfs/<cid> on a free loopback port. Sets PORT and
# NGINX_PID (the caller's cleanup kills it) and returns once nginx answers.
start_block_nginx() {
  local w=$1
  mkdir -p "$w/nginx/tmp"
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > "$w/nginx/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1;
pid $w/nginx/nginx.pid; error_log $w/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;
  client_body_temp_path $w/nginx/tmp/body; proxy_temp_path $w/nginx/tmp/proxy;
  fastcgi_temp_path $w/nginx/tmp/fastcgi; uwsgi_temp_path $w/nginx/tmp/uwsgi; scgi_temp_path $w/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$PORT;
    root $w/www;
    location ~ ^/ipfs/(?<cid>[A-Za-z0-9]+)\$ { default_type application/vnd.ipld.raw; try_files /blocks/\$cid =404; }
  }
}
EOF
  "${NGINX:-/usr/sbin/nginx}" -c "$w/nginx/nginx.conf" -p "$w/nginx/" &
  NGINX_PID=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.05; done
}

# fresh_mount_at BIN REPO MNT GATEWAY [CONFIG_JSON]: unmounts MNT, makes REPO anew (with that
# config.json when given) and mounts it at MNT with GATEWAY as its only source.
fresh_mount_at() {
  local bin=$1 repo=$2 mnt=$3 gw=$4 cfg=${5:-}
  "$bin" unmount "$mnt" >/dev/null 2>&1 || true
  rm -rf "$repo"
  mkdir -p "$mnt"
  "$bin" --repo "$repo" init >/dev/null
  [ -n "$cfg" ] && echo "$cfg" > "$repo/config.json"
  "$bin" --repo "$repo" mount "$mnt" -o "gateway=$gw"
}

# split_car DIR: splits a CARv1 stream (stdin) of CIDv1 blocks into DIR/<cid as base32 CIDv1>
# files, for nginx to serve at /ipfs/<cid>.
split_car() {
  python3 -c "$(cat <<'PY'
# Splits a CARv1 stream (stdin) into <dir>/<cid as base32 CIDv1> files.
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
    ver, q = varint(data, p)
    assert ver == 1, "CIDv1 only (add --cid-version 1)"
    _, q = varint(data, q); _, q = varint(data, q); dlen, q = varint(data, q); q += dlen
    name = "b" + base64.b32encode(data[p:q]).decode().lower().rstrip("=")
    open(f"{out}/{name}", "wb").write(data[q:end])
    pos = end
PY
)" "$1"
}

# read_files_latency DIR N: reads DIR/f1..fN (names zero-padded to the width of N) one at a time
# by name; prints "median p99 worst total": milliseconds per file, and seconds in all.
read_files_latency() {
  python3 - "$1" "$2" <<'PY'
import sys, time
d, n = sys.argv[1], int(sys.argv[2])
w = len(str(n)); ts = []
for i in range(1, n + 1):
    t = time.perf_counter()
    with open(f"{d}/f{i:0{w}d}", "rb") as f: f.read()
    ts.append((time.perf_counter() - t) * 1000)
total = sum(ts) / 1000
ts.sort()
print(f"{ts[len(ts)//2]:.2f} {ts[min(len(ts)-1, int(len(ts)*0.99))]:.2f} {ts[-1]:.1f} {total:.2f}")
PY
}
