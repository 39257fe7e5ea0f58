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
# Section 7, step 2: sha256sum of the schedule file gives the certificate's schedule.sha256.
SCHED=$(sed -n 1p state/ledger.jsonl | sed -n 's/.*"payload":"\([^"]*\)".*/\1/p' | base64 -d \
  | jq -r .schedule.sha256)
[ "$(sha256sum < policies/firm.toml | cut -d' ' -f1)" = "$SCHED" ] \
  || fail "sha256sum of the schedule is not the certificate's schedule.sha256 ($SCHED)"

# Section 8: an archived file and an encrypted copy, checked with jq, sha256sum, age and tar
# as the guide says, on an agent that archives (encrypted) and encrypts.
mkdir -p arch/share/acme/m1 arch/share/bolt/m2 arch/policies arch/archive
age-keygen -o arch/rm.key 2> /dev/null || fail "age-keygen"
echo "brief of acme" > arch/share/acme/m1/brief.pdf
echo "secret of bolt" > arch/share/bolt/m2/secret.txt
touch -d 2010-05-01 arch/share/acme/m1/brief.pdf arch/share/bolt/m2/secret.txt
cat > arch/policies/firm.toml <<'TOML'
[schedule]
id = "firm-2026"
version = 1
mode = "enforce"

[[category]]
id = "matters"
paths = ["{client}/{matter}/*.pdf"]
retain = "7y"
action = "archive"
encrypt = true

[[category]]
id = "secrets"
paths = ["{client}/{matter}/*.txt"]
retain = "7y"
action = "encrypt"
TOML
printf 'policies = "policies"\n[agent]\nstate_dir = "state"\nmax_fraction_per_root = 1.0\n[[root]]\nname = "clients"\npath = "share"\n[archive]\ndestination = "archive"\nrecipients = ["%s"]\n' \
  "$(age-keygen -y arch/rm.key)" > arch/lethe.toml
( cd arch && "$LETHE" keygen -c lethe.toml > /dev/null && "$LETHE" run -c lethe.toml > /dev/null 2>&1 ) \
  || fail "the archiving pass"
payload_of() {  # $1: ledger, $2: a string its line holds in the decoded payload
  while IFS= read -r line; do
    printf '%s' "$line" | sed -n 's/.*"payload":"\([^"]*\)".*/\1/p' | base64 -d > "$WORK/p.json"
    grep -qF -- "$2" "$WORK/p.json" && { cat "$WORK/p.json"; return 0; }
  done < "$1"
  return 1
}
( cd arch
  payload_of state/ledger.jsonl '"action":"archive"' > payload.json || fail "no archive certificate"
  ARCHIVE=archive/$(jq -r .method.archive.name payload.json)
  [ "$(sha256sum < "$ARCHIVE" | cut -d' ' -f1)" = "$(jq -r .method.archive.sha256 payload.json)" ] \
    || fail "sha256sum of $ARCHIVE is not method.archive.sha256"
  mkdir unpacked
  age -d -i rm.key "$ARCHIVE" | tar --zstd -xf - -C unpacked || fail "age -d | tar --zstd -xf"
  MEMBER=$(jq -r .method.archive.member payload.json)
  SUBJECT=$(jq -r .subject.sha256 payload.json)
  jq -r '.members[] | "\(.sha256)  \(.path)"' unpacked/.lethe/manifest.json \
    | grep -qxF "$SUBJECT  $MEMBER" || fail "the manifest does not list $MEMBER with $SUBJECT"
  [ "$(sha256sum < "unpacked/$MEMBER" | cut -d' ' -f1)" = "$SUBJECT" ] \
    || fail "the archived copy of $MEMBER does not hash to subject.sha256"
  [ -e share/acme/m1/brief.pdf ] && fail "the archived source is still there"
  payload_of state/ledger.jsonl '"action":"encrypt"' > payload.json || fail "no encrypt certificate"
  COPY=share/bolt/m2/$(jq -r .method.encrypted_copy.name payload.json)
  [ "$(sha256sum < "$COPY" | cut -d' ' -f1)" = "$(jq -r .method.encrypted_copy.sha256 payload.json)" ] \
    || fail "sha256sum of $COPY is not method.encrypted_copy.sha256"
  [ "$(age -d -i rm.key "$COPY" | sha256sum | cut -d' ' -f1)" = "$(jq -r .subject.sha256 payload.json)" ] \
    || fail "age -d of $COPY does not hash to subject.sha256"
) || exit 1

echo "auditor guide: $BLOCKS sh blocks ran verbatim; ledger of $LINES lines, head $HEAD"
