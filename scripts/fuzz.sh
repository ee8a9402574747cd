#!/usr/bin/env bash
# Runs every fuzz target in the module for a bounded time each, so new targets are
# fuzzed without anyone listing them. A failure leaves its input under the
# package's testdata/fuzz/FuzzName/; commit it and it becomes a regression test.
#
# Usage: scripts/fuzz.sh [FUZZTIME]     (default 20000x; an execution count Nx or a duration)
#
# Prefer a count. With a duration, Go 1.26's fuzz coordinator can report a bare
# "context deadline exceeded" failure at the deadline on a loaded machine, with no
# crashing input (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-20000x}

# Packages with a `func Fuzz` in a test file, found cheaply; `go test -list`
# then names their targets exactly.
# (Command substitutions rather than <(...), so that a failing go command fails this.)
list=$(go list -f '{{.ImportPath}} {{.Dir}} {{join .TestGoFiles " "}} {{join .XTestGoFiles " "}}' ./...)
pkgs=()
while read -r pkg dir files; do
  for f in $files; do
    if grep -q '^func Fuzz' "$dir/$f"; then pkgs+=("$pkg"); break; fi
  done
done <<<"$list"

if [ ${#pkgs[@]} -eq 0 ]; then
  echo "fuzz: no fuzz targets"
  exit 0
fi

# `go test -list` prints a package's matching names, then its "ok  <pkg>" line.
list=$(go test -list '^Fuzz' "${pkgs[@]}")
targets=()
names=()
while IFS= read -r line; do
  case "$line" in
    Fuzz*) names+=("$line") ;;
    "ok "*)
      pkg=$(awk '{print $2}' <<<"$line")
      for n in "${names[@]}"; do targets+=("$pkg $n"); done
      names=() ;;
  esac
done <<<"$list"

failed=()
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  echo "fuzz: $pkg $name for $fuzztime"
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"; then
    failed+=("$pkg $name")
  fi
done

echo "fuzz: ${#targets[@]} targets, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'fuzz: FAIL %s\n' "${failed[@]}" >&2
  exit 1
fi
