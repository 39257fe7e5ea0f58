#!/usr/bin/env bash
# Times `lethe plan` (release build) against `find` and `fdfind` on the same generated
# tree, in the same run, with a warm cache, and records peak memory (GNU time's max RSS).
#
#   bench/walk.sh [FILES] [WORKDIR]        FILES defaults to 100000, WORKDIR to /var/tmp/lethe-bench
#   RUNS=7 bench/walk.sh 1000000
#   BASELINE=/tmp/lethe-old bench/walk.sh   also times another lethe binary (e.g. a build of
#                                           main) in the same runs: rows baseline-*
#
# The corpus is generated once per FILES (bench/make_corpus.py, seed 1) and kept in WORKDIR.
# Prints a Markdown table: median wall time of RUNS runs, files/s, ratio to find, max RSS.
set -euo pipefail

files=${1:-100000}
work=${2:-/var/tmp/lethe-bench}
runs=${RUNS:-5}
repo=$(cd "$(dirname "$0")/.." && pwd)

for tool in /usr/bin/time fdfind find python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps" >&2; exit 2; }
done

cmake --preset release -S "$repo" >/dev/null
cmake --build --preset release >/dev/null
lethe=$repo/build/release/agent/cli/lethe

# shellcheck source=bench/corpus.sh
. "$repo/bench/corpus.sh"
corpus=$(ensure_corpus "$repo" "$work" "$files")

# A schedule like a firm's: matter documents, billing, scratch files. Observe mode: a plan
# never disposes anyway, and the bench must not need keys.
mkdir -p "$work/policies" "$work/state"
cat >"$work/policies/bench.toml" <<'EOF'
[schedule]
id = "bench"
version = 1
mode = "observe"

[[category]]
id = "client-matter"
paths = ["{client}/{matter}/**"]
extensions = ["pdf", "docx", "doc", "msg", "eml", "xlsx", "pptx"]
retain = "7y"
action = "sanitize"   # archive once that action ships

[[category]]
id = "billing"
paths = ["{client}/{matter}/billing/**"]
retain = "6y"
action = "sanitize"

[[category]]
id = "scratch"
paths = ["**/*.tmp"]
retain = "30d"
action = "delete"
EOF
cat >"$work/lethe-$files.toml" <<EOF
policies = "$work/policies"
[agent]
state_dir = "$work/state"
[[root]]
name = "corpus"
path = "$corpus"
EOF

declare -A cmds=(
  [find]="find $corpus -type f -printf '%s %T@ %p\n'"
  [fdfind]="fdfind --unrestricted --type f . $corpus"
  [lethe-plan]="$lethe plan --config $work/lethe-$files.toml --now 2026-11-25"
  [lethe-plan-json]="$lethe plan --json --config $work/lethe-$files.toml --now 2026-11-25"
  # Walk and classify every file, list none: the cost of the walk without the listing.
  [lethe-plan-no-listing]="$lethe plan --client nobody --config $work/lethe-$files.toml --now 2026-11-25"
)
order=(find fdfind lethe-plan lethe-plan-json lethe-plan-no-listing)
if [ -n "${BASELINE:-}" ]; then
  cmds[baseline-plan]="$BASELINE plan --config $work/lethe-$files.toml --now 2026-11-25"
  cmds[baseline-plan-json]="$BASELINE plan --json --config $work/lethe-$files.toml --now 2026-11-25"
  cmds[baseline-plan-no-listing]="$BASELINE plan --client nobody --config $work/lethe-$files.toml --now 2026-11-25"
  order+=(baseline-plan baseline-plan-json baseline-plan-no-listing)
fi

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# Warm the cache: every tool reads the whole tree once before anything is timed.
for name in "${order[@]}"; do bash -c "${cmds[$name]}" >/dev/null; done
count=$(find "$corpus" -type f | wc -l)

declare -A walls rss cpus
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for ((i = 0; i < runs; i++)); do
  for name in "${order[@]}"; do  # interleaved, so load on the machine hits every tool alike
    /usr/bin/time -f '%e %M %U %S' -o "$tmp" bash -c "exec ${cmds[$name]}" >/dev/null
    read -r wall kib user sys <"$tmp"
    walls[$name]+="$wall "
    cpus[$name]+="$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }') "
    [ "${rss[$name]:-0}" -ge "$kib" ] || rss[$name]=$kib
  done
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
find_wall=$(echo "${walls[find]}" | median)
echo "Tree: $count regular files ($corpus), $runs runs each, warm cache, $(nproc) CPUs,"
echo "load average $load_start at the start,"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
echo
echo "| tool | median wall (s) | files/s | wall vs find | median CPU user+sys (s) | max RSS (MiB) | all walls (s) |"
echo "|---|---:|---:|---:|---:|---:|---|"
for name in "${order[@]}"; do
  wall=$(echo "${walls[$name]}" | median)
  cpu=$(echo "${cpus[$name]}" | median)
  awk -v n="$name" -v w="$wall" -v f="$find_wall" -v c="$count" -v k="${rss[$name]}" \
      -v u="$cpu" -v all="${walls[$name]}" \
      'BEGIN { printf "| %s | %.2f | %.0f | %.2f× | %.2f | %.1f | %s|\n", n, w, (w > 0 ? c / w : 0), (f > 0 ? w / f : 0), u, k / 1024, all }'
done
