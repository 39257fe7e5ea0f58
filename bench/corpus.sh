# Sourced by the bench scripts: the law-firm corpus of bench/make_corpus.py, generated once
# per size into WORK and reused by later runs (a .done marker says it is complete).
# ensure_corpus REPO WORK FILES: prints the corpus folder.
ensure_corpus() {
  local repo=$1 work=$2 files=$3
  local corpus=$work/corpus-$files
  mkdir -p "$work"
  if [ ! -e "$corpus.done" ]; then
    rm -rf "$corpus"
    python3 "$repo/bench/make_corpus.py" --files "$files" --seed 1 "$corpus" >&2
    touch "$corpus.done"
  fi
  echo "$corpus"
}
