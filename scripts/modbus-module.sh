#!/usr/bin/env bash
# Makes github.com/goburrow/modbus and github.com/goburrow/serial downloadable.
#
# When the usual module proxy serves them, this does nothing. When it refuses them
# (some build machines' proxies answer 403 for every Modbus module), it builds a
# file-based module proxy from Debian's source packages of the same versions and
# prints the GOPROXY value to use. go.sum still verifies every byte, so only the
# published modules are ever accepted.
#
# Usage: eval "$(scripts/modbus-module.sh)"    # exports GOPROXY when needed
# Env:   HAZARDGW_CACHE (default .cache), FORCE_MODBUS_FALLBACK=1 to skip the proxy check.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${HAZARDGW_CACHE:-$root/.cache}
proxydir=$cache/modproxy
log() { printf 'modbus-module: %s\n' "$*" >&2; }

mods=("github.com/goburrow/modbus v0.1.0 golang-github-goburrow-modbus"
      "github.com/goburrow/serial v0.1.0 golang-github-goburrow-serial")

reachable() {
  local tmp
  tmp=$(mktemp -d)
  # A throwaway module cache, so only the proxy's answer counts, not what this machine has cached.
  if (cd "$root" && GOMODCACHE=$tmp/mod GOFLAGS=-mod=mod go mod download "$1@$2") >/dev/null 2>&1; then
    chmod -R u+w "$tmp"; rm -rf "$tmp"; return 0
  fi
  chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"; return 1
}

need=0
if [ "${FORCE_MODBUS_FALLBACK:-0}" != 1 ]; then
  for m in "${mods[@]}"; do
    set -- $m
    # Already in this machine's module cache: nothing to fetch.
    if [ -f "$(go env GOMODCACHE)/cache/download/$1/@v/$2.zip" ]; then continue; fi
    reachable "$1" "$2" || need=1
  done
else
  need=1
fi
if [ "$need" = 0 ]; then
  exit 0
fi

if [ ! -f "$proxydir/github.com/goburrow/serial/@v/v0.1.0.zip" ] || [ ! -f "$proxydir/github.com/goburrow/modbus/@v/v0.1.0.zip" ]; then
  log "module proxy refuses goburrow modules; building them from Debian source packages"
  srcs=/etc/apt/sources.list.d/hazardgw-deb-src.sources
  if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # Derive deb-src entries from this machine's own deb entries: same URIs, suites, components.
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$srcs"
    elif [ -f /etc/apt/sources.list ]; then
      grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' > /etc/apt/sources.list.d/hazardgw-deb-src.list
    fi
    apt-get update -qq >&2 || true
  fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  for m in "${mods[@]}"; do
    set -- $m
    (cd "$work" && apt-get source --download-only "$3" >&2) || true   # the .debian part may 404; the .orig is what matters
    tarball=$(ls "$work"/"$3"_*.orig.tar.* 2>/dev/null | head -1)
    if [ -z "$tarball" ]; then
      log "could not download the source of $3"; exit 1
    fi
    mkdir -p "$work/src-$3"
    tar -xf "$tarball" -C "$work/src-$3"
    dir=$(find "$work/src-$3" -mindepth 1 -maxdepth 1 -type d | head -1)
    (cd "$root/scripts/modproxy" && go run . -module "$1" -version "$2" -src "$dir" -out "$proxydir") >&2
  done
fi
echo "export GOPROXY=file://$proxydir,$(go env GOPROXY)"
