#!/usr/bin/env bash
# Times `lethe policy check` (release build) on large generated schedules against python3's
# tomllib parsing the same files, in the same run: loading must stay linear (issue 16).
#
#   bench/schedule_load.sh [WORKDIR]        WORKDIR defaults to /var/tmp/lethe-bench/schedules
#   RUNS=5 bench/schedule_load.sh
#   BASELINE=/tmp/lethe-old bench/schedule_load.sh   also times another lethe binary (e.g. a
#                                                    build of main) on the same files
#   LETHE=build/debug/agent/cli/lethe bench/schedule_load.sh   times that binary, builds nothing
#
# Schedules (bench/make_schedule.py, deterministic): 1,000, 2,000, 5,000 and 10,000
# categories, and one of 10 MB. Prints a Markdown table: the median CPU time (user + sys) of
# RUNS runs for each tool, lethe's time per category, its ratio to tomllib, and max RSS.
# CPU time rather than wall time: the machine is shared, and waiting for a core is not the
# loader's cost. Never run by ctest.
set -euo pipefail

work=${1:-/var/tmp/lethe-bench/schedules}
runs=${RUNS:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)

for tool in /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps" >&2; exit 2; }
done
python3 -c 'import tomllib' 2>/dev/null || { echo "python3 has no tomllib (needs 3.11)" >&2; exit 2; }

if [[ -n ${LETHE:-} ]]; then
  lethe=$LETHE  # a binary built elsewhere (e.g. the debug preset): no build
else
  cmake --preset release -S "$repo" >/dev/null
  cmake --build --preset release --target lethe >/dev/null
  lethe=$repo/build/release/agent/cli/lethe
fi

mkdir -p "$work"
sizes=("--categories 1000" "--categories 2000" "--categories 5000" "--categories 10000"
       "--bytes 10000000")
files=()
for size in "${sizes[@]}"; do
  f="$work/schedule-${size#--}.toml"
  f=${f// /-}
  [[ -s $f ]] || python3 "$repo/bench/make_schedule.py" $size "$f"
  files+=("$f")
done

# The median of RUNS measurements of "$@": CPU seconds (user + sys) and max RSS in KB.
measure() {
  local cpu=() rss=0 user sys kb
  for ((r = 0; r < runs; r++)); do
    /usr/bin/time -f '%U %S %M' -o "$work/time.out" "$@" >/dev/null 2>&1
    read -r user sys kb <"$work/time.out"
    cpu+=("$(python3 -c "print(f'{$user + $sys:.2f}')")")
    ((kb > rss)) && rss=$kb
  done
  printf '%s %s\n' "$(printf '%s\n' "${cpu[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")" "$rss"
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $runs runs each; lethe $("$lethe" --version 2>/dev/null || echo '?')"
echo
echo "| schedule | categories | lethe policy check (CPU s) | per category (µs) | tomllib (CPU s) | ratio | lethe max RSS |${BASELINE:+ baseline (CPU s) |}"
echo "|---|---:|---:|---:|---:|---:|---:|${BASELINE:+---:|}"
for f in "${files[@]}"; do
  count=$(grep -c '^\[\[category\]\]' "$f")
  bytes=$(stat -c %s "$f")
  "$lethe" policy check "$f" >/dev/null || { echo "lethe rejected $f" >&2; exit 1; }
  read -r lethe_cpu rss < <(measure "$lethe" policy check "$f")
  read -r toml_cpu _ < <(measure python3 -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], "rb"))' "$f")
  row=$(python3 -c "
lethe, toml, n = $lethe_cpu, $toml_cpu, $count
print(f'| {$bytes / 1e6:.1f} MB | {n:,} | {lethe:.2f} | {lethe / n * 1e6:.0f} | {toml:.2f} | {lethe / toml if toml else 0:.2f} | {$rss / 1024:.0f} MiB |', end='')")
  if [[ -n ${BASELINE:-} ]]; then
    read -r base_cpu _ < <(measure "$BASELINE" policy check "$f")
    row+=" $base_cpu |"
  fi
  echo "$row"
done
