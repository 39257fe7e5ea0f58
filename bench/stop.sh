#!/usr/bin/env bash
# How long `lethe agent` takes to stop when SIGTERM arrives in the middle of the walk that
# plans its first pass, beside how long that walk takes to the end (`lethe plan`, same tree,
# same binary, warm cache).
#
#   bench/stop.sh [FILES] [WORKDIR]        FILES defaults to 1000000, WORKDIR to /var/tmp/lethe-bench
#   RUNS=7 DELAY=1 bench/stop.sh 200000    SIGTERM DELAY seconds (default 0.5) after the start
#   LETHE=/path/to/lethe bench/stop.sh     time that binary instead of the release build
#
# The corpus is bench/make_corpus.py's (seed 1), kept in WORKDIR and shared with walk.sh.
# The schedule is in observe mode: nothing is ever disposed. A run counts only when the
# agent's log says it stopped during the walk. Prints the medians of RUNS runs.
set -euo pipefail

files=${1:-1000000}
work=${2:-/var/tmp/lethe-bench}
runs=${RUNS:-5}
delay=${DELAY:-0.5}
repo=$(cd "$(dirname "$0")/.." && pwd)

if [ -z "${LETHE:-}" ]; then
  cmake --preset release -S "$repo" >/dev/null
  cmake --build --preset release >/dev/null
  LETHE=$repo/build/release/agent/cli/lethe
fi

# shellcheck source=bench/corpus.sh
. "$repo/bench/corpus.sh"
corpus=$(ensure_corpus "$repo" "$work" "$files")

run=$work/stop-$files
rm -rf "$run"
mkdir -p "$run/policies"
cat >"$run/policies/bench.toml" <<'TOML'
[schedule]
id = "bench"
version = 1
mode = "observe"

[[category]]
id = "client-matter"
paths = ["{client}/{matter}/**"]
extensions = ["pdf", "docx", "msg", "eml"]
retain = "7y"
action = "sanitize"
TOML
cat >"$run/lethe.toml" <<TOML
policies = "policies"
[agent]
state_dir = "state"
interval = "1h"
[[root]]
name = "clients"
path = "$corpus"
TOML
"$LETHE" keygen --config "$run/lethe.toml" >/dev/null

now() { date +%s.%N; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

walks=()
for _ in $(seq "$runs"); do
  t0=$(now)
  "$LETHE" plan --config "$run/lethe.toml" >/dev/null 2>&1
  t1=$(now)
  walks+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
done

stops=()
for _ in $(seq "$runs"); do
  "$LETHE" --log-target stderr agent --config "$run/lethe.toml" 2>"$run/agent.log" &
  pid=$!
  sleep "$delay"
  t0=$(now)
  kill -TERM "$pid"
  wait "$pid" || true
  t1=$(now)
  if grep -q "stopped on request during the walk" "$run/agent.log"; then
    stops+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
  else
    echo "a run was not stopped during the walk (the walk ended first): lower DELAY" >&2
  fi
done

echo "| files | walk to the end (lethe plan) | SIGTERM to exit, mid-walk | runs counted |"
echo "|---:|---:|---:|---:|"
printf '| %s | %.2f s | %.3f s | %d of %d |\n' "$files" \
  "$(printf '%s\n' "${walks[@]}" | median)" \
  "$(if [ ${#stops[@]} -gt 0 ]; then printf '%s\n' "${stops[@]}" | median; else echo nan; fi)" \
  "${#stops[@]}" "$runs"
