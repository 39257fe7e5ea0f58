#!/bin/bash
# Runs the ```sh blocks of docs/auditor-guide.md verbatim, in order and in one shell, against
# a ledger written by the built binary, and checks that they print what the guide says they
# print: the guide's recipes must work with standard tools alone.
#
# usage: auditor_guide_test.sh LETHE_BINARY docs/auditor-guide.md
set -u
LETHE=$1
GUIDE=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -f "$GUIDE" ] || fail "no guide at $GUIDE"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lethe-guide-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1

# An agent with five due files: two passes give 7 ledger lines (5 disposals, 2 checkpoints).
mkdir -p share/acme/m1 policies
for f in a b c d e; do
  echo "content of $f" > "share/acme/m1/$f.pdf"
  touch -d 2010-05-01 "share/acme/m1/$f.pdf"
done
cat > policies/firm.toml <<'TOML'
[schedule]
id = "firm-2026"
version = 1
mode = "enforce"

[[category]]
id = "client-matter"
paths = ["{client}/{matter}/**"]
extensions = ["pdf"]
retain = "7y"
action = "sanitize"
TOML
printf 'policies = "policies"\n[agent]\nstate_dir = "state"\nmax_fraction_per_root = 1.0\n[[root]]\nname = "clients"\npath = "share"\n' > lethe.toml
"$LETHE" keygen -c lethe.toml > keygen.out || fail "keygen"
"$LETHE" run -c lethe.toml > /dev/null 2>&1 || fail "first pass"
"$LETHE" run -c lethe.toml > /dev/null 2>&1 || fail "second pass"
"$LETHE" certs verify -c lethe.toml > verify.out || fail "lethe certs verify: $(cat verify.out)"
KEYID=$(sed -n 's/.*keyid \([0-9a-f]*\).*/\1/p' keygen.out)
LINES=$(wc -l < state/ledger.jsonl)
HEAD=$(sed -n 's/.*; head \([0-9a-f]*\)$/\1/p' verify.out | head -1)
[ "$LINES" -ge 7 ] || fail "expected at least 7 ledger lines, got $LINES"
[ -n "$HEAD" ] || fail "no head in: $(cat verify.out)"

# The blocks, each in its own file, run in one shell so that later blocks see earlier ones.
awk -v dir="$WORK" '
  /^```sh[[:space:]]*$/ { n++; file = sprintf("%s/block-%02d.sh", dir, n); inside = 1; next }
  /^```/ && inside { inside = 0; close(file); next }
  inside { print > file }
' "$GUIDE"
BLOCKS=$(ls block-*.sh 2>/dev/null | wc -l)
[ "$BLOCKS" -ge 1 ] || fail "no \`\`\`sh blocks in $GUIDE"

run_blocks() {  # $1: folder holding ledger.jsonl and signing.pem.pub
  ( cd "$1" && for b in "$WORK"/block-*.sh; do
      echo "=== $(basename "$b")"
      . "$b"
      echo "=== exit $?"
    done ) > "$1/guide.out" 2>&1
}

mkdir audit
cp state/ledger.jsonl audit/ledger.jsonl
cp state/keys/signing.pem.pub audit/signing.pem.pub
run_blocks audit
OUT=audit/guide.out
expect() { grep -qF -- "$1" "$OUT" || { cat "$OUT" >&2; fail "guide output lacks: $1"; }; }
expect "application/vnd.lethe.certificate+json"
expect "$KEYID"
expect "Signature Verified Successfully"
expect "Signature Verification Failure"
expect "openssl exit status: 1"
expect '"seq":1'
expect '"prev":"0000000000000000000000000000000000000000000000000000000000000000"'
# The shell loop agrees with lethe on the count and the head.
expect "$LINES lines verified; head $HEAD"
# The prev of line 2 printed by the one-certificate recipe is the hash it printed for line 1.
LINE1=$(sed -n 1p state/ledger.jsonl | tr -d '\n' | sha256sum | cut -d' ' -f1)
expect "$LINE1  -"
expect "\"prev\":\"$LINE1\""
# The cut check hashes line 7 (the guide's COUNT); lethe's own id for line 7 must match.
ID7=$("$LETHE" certs show 7 -c lethe.toml 2>/dev/null | sed -n 's/^id (SHA-256 of the line): //p')
[ -n "$ID7" ] || fail "lethe certs show 7 gave no id"
expect "$ID7  -"

# The same blocks on a ledger whose line 2 was changed: the loop stops there.
mkdir tampered
cp audit/signing.pem.pub tampered/
# The first character of line 2's signature, changed (A to B, anything else to A).
sed '2{s/"sig":"A/"sig":"B/;t
s/"sig":"./"sig":"A/}' state/ledger.jsonl > tampered/ledger.jsonl
cmp -s state/ledger.jsonl tampered/ledger.jsonl && fail "the tampering changed nothing"
run_blocks tampered
OUT=tampered/guide.out
expect "line 2: bad signature"
grep -qF "lines verified" "$OUT" && { cat "$OUT" >&2; fail "the loop passed a tampered ledger"; }
echo "auditor guide: $BLOCKS sh blocks ran verbatim; ledger of $LINES lines, head $HEAD"
