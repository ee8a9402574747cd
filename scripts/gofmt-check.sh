#!/usr/bin/env bash
# Fails, listing them, when Go files are not gofmt-formatted.
# Checks the files git knows or would add (tracked and untracked, not ignored), or
# every .go file outside .git, .cache and bin when this is not a git checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -co --exclude-standard -- '*.go')
else
  mapfile -t files < <(find . \( -name .git -o -name .cache -o -name bin \) -prune -o -name '*.go' -print)
fi
existing=()
for f in "${files[@]}"; do [ -f "$f" ] && existing+=("$f"); done   # deleted but still tracked
[ ${#existing[@]} -eq 0 ] && exit 0

bad=$(gofmt -l "${existing[@]}")
if [ -n "$bad" ]; then
  echo "not gofmt-formatted (run gofmt -w on them):" >&2
  printf '  %s\n' $bad >&2
  exit 1
fi
