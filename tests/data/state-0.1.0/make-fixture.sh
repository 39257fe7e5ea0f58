#!/bin/sh
# How the files here were made: a state_dir as lethe 0.1.0 writes it (ledger, signing key,
# last-pass.json, a hold, a review item, the archive index and its archive), for the upgrade
# test (tests/e2e/config_refusal_test.cpp, UpgradeE2E). Run once with a test build of the
# 0.1.0 release (it needs `run --now`):  make-fixture.sh /path/to/lethe-0.1.0
# The fixture was made in /tmp/lethe-0.1.0-fixture; archives.jsonl names that folder, and
# the test puts its own folder in its place. Not run by any test: the files are frozen.
set -eu
L=$1
F=/tmp/lethe-0.1.0-fixture
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$F"
mkdir -p "$F/share/acme/2010-001" "$F/share/acme/2010-002" "$F/share/hr" "$F/share/closed/m1" \
    "$F/archive"
cp -r "$here/policies" "$here/lethe.toml" "$F/"
cd "$F"
w() { printf '%s' "$2" >"share/$1"; touch -d "$3" "share/$1"; }
w acme/2010-001/brief.pdf "privileged brief" 2010-05-01
w acme/2010-001/letter.docx "letter to client" 2011-02-03
w acme/2010-001/scratch.tmp "temp" 2012-01-01
w acme/2010-002/held.pdf "held brief" 2010-06-01
w hr/old-review.txt "an old appraisal" 2015-01-01
w closed/m1/closing.txt "closing memo" 2015-02-01
"$L" keygen --config lethe.toml
"$L" hold add lit-1 --config lethe.toml --reason litigation --path acme/2010-002 --by tester
"$L" run --config lethe.toml --now 2026-11-25T12:00:00Z
rm -rf "$here/state" "$here/archive"
cp -r state archive "$here/"
