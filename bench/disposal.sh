#!/usr/bin/env bash
# Benchmarks of lethe's disposal actions against the standard tools, on the same data in
# the same run (issue 6). Uses the release build (make build). Prints one line per
# measurement and the ratio; copy the ratios into bench/README.md.
#
#   bench/disposal.sh [--big-mib N] [--small-files N] [--archive-mib N] [--only CASE]
#
# --only big|small|archive runs one case (big: both large-file cases); RUNS=N repeats the
# large-file and archive cases N times (default 1), each run timing the standard tool and
# lethe on fresh copies of the same data. Each large-file run also prints lethe's CPU time
# (user and system, from /usr/bin/time when installed): load-independent, unlike the ratios.
# CPU=1 adds one run of each under perf for the CPU time spent (lethe's per thread).
# LETHE=PATH times another lethe binary (e.g. a copy of an earlier build) instead.
# PERF_KEEP=FILE keeps lethe's perf.data of the CPU=1 run (perf report -i FILE --sort pid,sym).
#
# Needs: shred (coreutils), openssl, tar, zstd, age, age-keygen. Writes only below a
# temporary folder under $TMPDIR (default /tmp), removed at the end.
set -euo pipefail

big_mib=256
small_files=10000
archive_mib=500
only=all
while [ $# -gt 0 ]; do
  case "$1" in
    --big-mib) big_mib=$2; shift 2 ;;
    --small-files) small_files=$2; shift 2 ;;
    --archive-mib) archive_mib=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "usage: $0 [--big-mib N] [--small-files N] [--archive-mib N] [--only big|small|archive]" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")/.." && pwd)
lethe=${LETHE:-$here/build/release/agent/cli/lethe}
[ -x "$lethe" ] || { echo "build the release binary first: make build" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/lethe-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
rate() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# A share with a schedule that disposes of everything in it with `action`.
setup_share() {  # dir action [encrypt]
  local dir=$1 action=$2 encrypt=${3:-false}
  mkdir -p "$dir/share" "$dir/policies" "$dir/archive"
  cat > "$dir/policies/bench.toml" <<TOML
[schedule]
id = "bench"
version = 1
mode = "enforce"

[[category]]
id = "all"
paths = ["{client}/{matter}/**"]
retain = "1y"
action = "$action"
$( [ "$action" = archive ] && echo "encrypt = $encrypt" )
TOML
  cat > "$dir/lethe.toml" <<TOML
policies = "policies"
[agent]
state_dir = "state"
max_disposals_per_pass = 1000000
max_fraction_per_root = 1.0
[archive]
destination = "archive"
recipients = ["$recipient"]
[[root]]
name = "bench"
path = "share"
TOML
  "$lethe" keygen --config "$dir/lethe.toml" >/dev/null
}

age-keygen -o "$work/id.key" 2>/dev/null
recipient=$(sed -n 's/^# public key: //p' "$work/id.key")

# One large file, sanitized by `shred -n1 -u` and by `lethe run` (extra config appended).
bench_big() {  # name label lethe-note [extra-config]
  local dir="$work/$1" shred_dir="$work/shred-$1" timer=()
  [ ! -x /usr/bin/time ] || timer=(/usr/bin/time -f '%U %S' -o "$work/cpu")
  echo "== sanitize one ${big_mib} MiB file ($2) =="
  head -c "$((big_mib << 20))" /dev/urandom > "$work/big.src"
  for run in $(seq 1 "${RUNS:-1}"); do
    rm -rf "$dir" "$shred_dir"
    setup_share "$dir" sanitize
    [ -z "${4:-}" ] || printf '%b' "$4" >> "$dir/lethe.toml"
    mkdir -p "$dir/share/c/m" "$shred_dir"
    cp "$work/big.src" "$dir/share/c/m/big.bin"
    cp "$work/big.src" "$shred_dir/big.bin"
    touch -d 2010-01-01 "$dir/share/c/m/big.bin"
    sync
    echo "-- run $run, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    # The SHA-256 alone of the same (cached) bytes: a floor for any tool that certifies the
    # hash of what it destroys, as lethe does and shred does not (see bench/README.md).
    t0=$(now); openssl dgst -sha256 "$work/big.src" >/dev/null; t1=$(now)
    dgst_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
    t0=$(now); shred -n1 -u "$shred_dir/big.bin"; sync; t1=$(now)
    shred_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
    t0=$(now); "${timer[@]}" "$lethe" --log-level error run --config "$dir/lethe.toml" >/dev/null; t1=$(now)
    lethe_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
    [ ! -e "$dir/share/c/m/big.bin" ] || { echo "lethe did not dispose of the file" >&2; exit 1; }
    echo "shred -n1 -u : $(rate "$big_mib" "$shred_s") MiB/s"
    echo "lethe run    : $(rate "$big_mib" "$lethe_s") MiB/s ($3)"
    echo "openssl dgst -sha256 alone: $(rate "$big_mib" "$dgst_s") MiB/s (the hash lethe" \
      "certifies before the bytes are gone; shred takes none)"
    [ ${#timer[@]} -eq 0 ] || echo "lethe CPU    : $(awk '{ printf "%.2f s user, %.2f s system", $1, $2 }' "$work/cpu")"
    echo "ratio lethe/shred: $(ratio "$shred_s" "$lethe_s")"
  done
  rm -rf "$dir" "$shred_dir" "$work/big.src"
}

bench_small() {
  echo "== sanitize ${small_files} files of 20 KiB, with certificates =="
  setup_share "$work/small" sanitize
  mkdir -p "$work/small/share/c/m" "$work/shred-small"
  head -c 20480 /dev/urandom > "$work/seed"
  for i in $(seq 1 "$small_files"); do
    d=$((i % 100))
    mkdir -p "$work/small/share/c/m/$d" "$work/shred-small/$d"
    cp "$work/seed" "$work/small/share/c/m/$d/f$i.pdf"
    cp "$work/seed" "$work/shred-small/$d/f$i.pdf"
  done
  find "$work/small/share" -type f -exec touch -d 2010-01-01 {} +
  sync
  t0=$(now); find "$work/shred-small" -type f -print0 | xargs -0 shred -n1 -u; sync; t1=$(now)
  shred_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  t0=$(now); "$lethe" --log-level error run --config "$work/small/lethe.toml" >/dev/null; t1=$(now)
  lethe_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  left=$(find "$work/small/share" -type f | wc -l)
  [ "$left" -eq 0 ] || { echo "lethe left $left files" >&2; exit 1; }
  echo "shred -n1 -u : $(rate "$small_files" "$shred_s") files/s"
  echo "lethe run    : $(rate "$small_files" "$lethe_s") files/s"
  echo "ratio lethe/shred: $(ratio "$shred_s" "$lethe_s")"
}

bench_archive() {
  echo "== archive + encrypt ~${archive_mib} MB of mixed files =="
  local src="$work/arch-src" dir="$work/arch"
  mkdir -p "$src/c/m"
  # Mixed: compressible text and incompressible binary, sizes 4 KiB .. 4 MiB.
  made=0; i=0
  while [ "$made" -lt "$((archive_mib * 1000000))" ]; do
    i=$((i + 1))
    size=$(( (4096 << (i % 11)) ))
    if [ $((i % 2)) -eq 0 ]; then
      { yes "Lorem ipsum dolor sit amet, matter $i, privileged and confidential." || true; } |
        head -c "$size" > "$src/c/m/doc$i.txt"
    else
      head -c "$size" /dev/urandom > "$src/c/m/scan$i.pdf"
    fi
    made=$((made + size))
  done
  find "$src" -type f -exec touch -d 2010-01-01 {} +
  mb=$(awk -v b="$made" 'BEGIN { print b / 1000000 }')
  files=$(find "$src" -type f | wc -l)
  echo "$files files, $mb MB"
  for run in $(seq 1 "${RUNS:-1}"); do
    rm -rf "$dir" "$work/pipe-src" "$work/pipe.tar.zst.age"
    setup_share "$dir" archive true
    rmdir "$dir/share"
    cp -a "$src" "$dir/share"
    cp -a "$src" "$work/pipe-src"
    sync
    echo "-- run $run, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    t0=$(now); tar -C "$work/pipe-src" -cf - . | zstd -3 -T0 -q | age -r "$recipient" > "$work/pipe.tar.zst.age"; sync; t1=$(now)
    pipe_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
    # The log line "archived N files into ..." marks the end of the archive step (written,
    # fsynced, re-read, decrypted and every member checked); the sources are sanitized after it.
    t0=$(now)
    "$lethe" run --config "$dir/lethe.toml" 2>&1 >/dev/null |
      while IFS= read -r line; do echo "$(now) $line"; done > "$work/arch.log"
    t1=$(now)
    lethe_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
    archived_at=$(awk '/ archived [0-9]+ files? into/ { print $1; exit }' "$work/arch.log")
    [ -n "$archived_at" ] || { echo "lethe archived nothing:" >&2; cat "$work/arch.log" >&2; exit 1; }
    archive_s=$(awk -v a="$t0" -v b="$archived_at" 'BEGIN { print b - a }')
    echo "tar | zstd -3 -T0 | age -r : $(rate "$mb" "$pipe_s") MB/s"
    echo "lethe archive step (write, fsync, re-read + decrypt + check every member): $(rate "$mb" "$archive_s") MB/s"
    echo "lethe whole pass (archive step + sanitize every source + certificates): $(rate "$mb" "$lethe_s") MB/s"
    echo "ratio lethe archive step/pipeline: $(ratio "$pipe_s" "$archive_s")"
    echo "sizes: pipeline $(stat -c %s "$work/pipe.tar.zst.age") bytes, lethe $(cat "$dir"/archive/*.age | wc -c) bytes"
  done
  [ "${CPU:-0}" = 0 ] || archive_cpu "$src"
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# CPU=1: one more run of each, under perf, for the CPU time they spend, which the load on a
# shared machine changes much less than the wall time: the pipeline's (all three processes)
# and lethe's until the end of its archive step, per thread (samples at 4 kHz).
archive_cpu() {  # src
  local dir="$work/arch"
  command -v perf >/dev/null || { echo "CPU=1 needs perf (linux-perf)" >&2; exit 2; }
  rm -rf "$dir" "$work/pipe-src" "$work/pipe.tar.zst.age"
  setup_share "$dir" archive true
  rmdir "$dir/share"
  cp -a "$1" "$dir/share"
  cp -a "$1" "$work/pipe-src"
  sync
  echo "-- CPU time (perf), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  perf stat -x, -e task-clock -o "$work/pipe.stat" -- sh -c \
    'tar -C "$1" -cf - . | zstd -3 -T0 -q | age -r "$2" > "$3"' sh "$work/pipe-src" "$recipient" \
    "$work/pipe.tar.zst.age"
  echo "tar | zstd -3 -T0 | age -r : $(awk -F, '/task-clock/ { printf "%.2f", $1 / 1000 }' "$work/pipe.stat") s CPU (user + sys, all processes)"
  perf record -q -e cpu-clock -F 4000 -k CLOCK_REALTIME -o "$work/lethe.perf" -- \
    "$lethe" run --config "$dir/lethe.toml" 2>&1 >/dev/null |
    while IFS= read -r line; do echo "$(now) $line"; done > "$work/arch.log"
  archived_at=$(awk '/ archived [0-9]+ files? into/ { print $1; exit }' "$work/arch.log")
  [ -n "$archived_at" ] || { echo "lethe archived nothing:" >&2; cat "$work/arch.log" >&2; exit 1; }
  [ -z "${PERF_KEEP:-}" ] || cp "$work/lethe.perf" "$PERF_KEEP"
  # Samples up to the end of the archive step, per thread; the main thread is the lowest tid.
  perf script -i "$work/lethe.perf" -F comm,tid,time 2>/dev/null |
    awk -v end="$archived_at" '{ t = $3; sub(":", "", t) } t + 0 <= end + 0 { n[$2] += 1; c[$2] = $1 }
      END { for (tid in n) { printf "%s %s %.3f\n", tid, c[tid], n[tid] / 4000; s += n[tid] }
            printf "total %.2f\n", s / 4000 }' | sort -n > "$work/threads"
  echo "lethe archive step: $(awk '$1 == "total" { print $2 }' "$work/threads") s CPU, per thread:"
  grep -v '^total' "$work/threads" | awk '{ printf "  tid %s (%s): %s s\n", $1, $2, $3 }'
}

case "$only" in
  all|big)
    bench_big big "read-back verification on" "overwrite + O_DIRECT read-back + certificate"
    bench_big bigoff "read-back verification off: [sanitize] verify = false" \
      "overwrite, no read-back, certificate says so" '[sanitize]\nverify = false\n'
    ;;&
  all|small) bench_small ;;&
  all|archive) bench_archive ;;
  big|small) ;;
  *) echo "--only takes big, small or archive" >&2; exit 2 ;;
esac
