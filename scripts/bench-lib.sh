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
