#!/bin/bash
# Opens the HTML report of `lethe certs export --format html` in a real browser (Debian's
# chromium, headless) and checks what an auditor would see: the page loads with no console
# message at all (no script error, no blocked fetch), its script's self-check passes, the
# totals it shows are the disposals this test made, hostile file names stay text, and a
# screenshot is saved for people to look at.
#
# usage: html_report_browser_test.sh LETHE_BINARY OUTPUT_DIR
set -u
LETHE=$1
OUTDIR=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v chromium > /dev/null || fail "chromium is not installed: run scripts/install-deps"
mkdir -p "$OUTDIR" || fail "cannot create $OUTDIR"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lethe-report-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1

# Six due files of known sizes, in two categories with two actions, one with a name that is
# HTML and CSV syntax and one that is not valid UTF-8.
mkdir -p 'share/acme/m1' 'share/b<&"co/m2' policies
head -c 1000 /dev/zero | tr '\0' a > share/acme/m1/a.pdf
head -c 2500 /dev/zero | tr '\0' b > share/acme/m1/b.pdf
head -c 40000 /dev/zero | tr '\0' c > share/acme/m1/c.docx
head -c 7 /dev/zero | tr '\0' d > 'share/b<&"co/m2/<img src=x onerror=alert(1)>,"q".pdf'
head -c 123 /dev/zero | tr '\0' e > "share/acme/m1/bad$(printf '\377\376').pdf"
head -c 50 /dev/zero | tr '\0' f > share/acme/m1/scratch.tmp
EXPECT_COUNT=6
EXPECT_BYTES=$((1000 + 2500 + 40000 + 7 + 123 + 50))
find share -type f -exec touch -d 2010-05-01 {} +
cat > policies/firm.toml <<'TOML'
[schedule]
id = "firm-2026"
version = 1
mode = "enforce"

[[category]]
id = "client-matter"
paths = ["{client}/{matter}/**"]
extensions = ["pdf", "docx"]
retain = "7y"
action = "sanitize"

[[category]]
id = "scratch"
paths = ["**/*.tmp"]
retain = "30d"
action = "delete"
TOML
printf 'policies = "policies"\n[agent]\nstate_dir = "state"\nmax_fraction_per_root = 1.0\n[[root]]\nname = "clients"\npath = "share"\n' > lethe.toml
"$LETHE" keygen -c lethe.toml > /dev/null || fail "keygen"
"$LETHE" run -c lethe.toml > run.out 2>&1 || fail "run: $(cat run.out)"
"$LETHE" certs verify -c lethe.toml > verify.out || fail "verify: $(cat verify.out)"
grep -qF "($EXPECT_COUNT disposals," verify.out || fail "expected $EXPECT_COUNT disposals: $(cat verify.out)"
"$LETHE" certs export -c lethe.toml --format html --out report.html > export.out ||
  fail "export: $(cat export.out)"

browse() {  # $1: what to do (--dump-dom or --screenshot=FILE), $2: stderr file, $3: #fragment
  local profile
  profile=$(mktemp -d "$WORK/profile-XXXXXX")
  timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --enable-logging=stderr --v=0 --window-size=1200,1500 \
    "$1" "file://$WORK/report.html${3:-}" 2> "$2"
}

browse --dump-dom dom.err > dom.html || fail "chromium --dump-dom failed: $(tail -5 dom.err)"
SHOT="$OUTDIR/certs-report.png"
rm -f "$SHOT"
browse --screenshot="$SHOT" shot.err > /dev/null || fail "chromium --screenshot failed: $(tail -5 shot.err)"

# The search box, with a search given in the address (#q=): one row is left.
browse --dump-dom search.err '#q=SCRATCH.tmp' > search.html ||
  fail "chromium --dump-dom #q= failed: $(tail -5 search.err)"
grep -qF "1 of $((EXPECT_COUNT + 1)) shown" search.html || fail "searching for scratch.tmp did not leave one row"
VISIBLE=$(grep '^<tr data-type=' search.html | grep -vc ' hidden=')
[ "$VISIBLE" -eq 1 ] || fail "$VISIBLE rows visible after the search, not 1"
grep '^<tr data-type=' search.html | grep -v ' hidden=' | grep -qF 'clients/acme/m1/scratch.tmp' ||
  fail "the row left by the search is not scratch.tmp"

# Chromium logs every console message (errors, CSP violations, uncaught exceptions) as
# INFO:CONSOLE; the report writes none of its own, so any such line is a fault.
for log in dom.err shot.err search.err; do
  if grep -F ':CONSOLE' "$log"; then fail "console messages while loading the report ($log)"; fi
done

has() { grep -qF -- "$1" dom.html || fail "the rendered page lacks: $1"; }
has 'data-status="passed"'
has "id=\"total-disposals\" data-value=\"$EXPECT_COUNT\">$EXPECT_COUNT<"
has "id=\"total-bytes\" data-value=\"$EXPECT_BYTES\""
has "$EXPECT_BYTES bytes"
# The script ran: the search box counted the rows and the self-check found the totals agree.
has 'id="selfcheck" data-result="ok"'
has "$((EXPECT_COUNT + 1)) of $((EXPECT_COUNT + 1)) shown"
ROWS=$(grep -o '<tr data-type="disposal"' dom.html | wc -l)
[ "$ROWS" -eq "$EXPECT_COUNT" ] || fail "the table shows $ROWS disposals, not $EXPECT_COUNT"
has '<td>scratch</td><td class="n">1</td>'
has '<td>sanitize</td><td class="n">5</td>'
has '<td>delete</td><td class="n">1</td>'
has 'No holds recorded in this ledger'
has '<rect class="bar"'
# The hostile name is text in the page, not an element, and the bad bytes show as U+FFFD.
has 'clients/b&lt;&amp;"co/m2/&lt;img src=x onerror=alert(1)&gt;,"q".pdf'
if grep -qF '<img' dom.html; then fail "a file name became an element in the page"; fi
has "clients/acme/m1/bad$(printf '\357\277\275\357\277\275').pdf"

[ -s "$SHOT" ] || fail "no screenshot at $SHOT"
[ "$(head -c 8 "$SHOT" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "$SHOT is not a PNG"

# A tampered ledger still exports, but the report says FAILED at the top and the exit is 1.
# The first character of line 2's signature, changed (A to B, anything else to A).
cp state/ledger.jsonl ledger.orig
sed -i '2{s/"sig":"A/"sig":"B/;t
s/"sig":"./"sig":"A/}' state/ledger.jsonl
cmp -s ledger.orig state/ledger.jsonl && fail "the tampering changed nothing"
"$LETHE" certs export -c lethe.toml --format html --out tampered.html > tampered.out
[ $? -eq 1 ] || fail "export of a tampered ledger did not exit 1: $(cat tampered.out)"
grep -qF 'FAILED:' tampered.out || fail "no FAILED line: $(cat tampered.out)"
grep -qF 'data-status="failed"><h2>Verification: FAILED' tampered.html ||
  fail "the tampered report does not say FAILED at the top"
echo "report rendered: $EXPECT_COUNT disposals, $EXPECT_BYTES bytes; screenshot $SHOT"
