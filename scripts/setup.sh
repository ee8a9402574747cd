#!/usr/bin/env bash
# Installs what hazardgw's tests need and prints the environment to run them with.
#
#   - Debian packages mosquitto (the tests' broker) and its clients, socat and mbpoll (serial and
#     Modbus tools, also run by tests), systemd (for `systemd-analyze verify` of
#     the unit in deploy/), and gcc when missing (the race detector needs cgo);
#   - influxd 1.8.10, built with `go install` into $HAZARDGW_CACHE/bin;
#   - the local module proxy for github.com/goburrow/modbus when the usual module
#     proxy refuses it (scripts/modbus-module.sh).
#
# Idempotent, and quick when everything is present. Progress goes to stderr; stdout
# is only `export NAME=value` lines, also written to $HAZARDGW_CACHE/env:
#
#   eval "$(scripts/setup.sh)"       # what `make test` does
#
# The tests start their own servers on free ports in temporary directories. A
# system Mosquitto that the Debian package may start on port 1883 is not used and
# cannot collide with them: test ports come from the kernel's ephemeral range.
#
# Env: HAZARDGW_CACHE (default <repo>/.cache), HAZARDGW_INFLUXD and HAZARDGW_MOSQUITTO
# (use these binaries), FORCE_MODBUS_FALLBACK=1 (see scripts/modbus-module.sh).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
command -v go >/dev/null || { echo "setup: go is not on PATH (hazardgw needs Go 1.26)" >&2; exit 1; }
cache=${HAZARDGW_CACHE:-$root/.cache}
mkdir -p "$cache/bin"
cache=$(cd "$cache" && pwd)
export HAZARDGW_CACHE=$cache

influx_version=v1.8.10
influx_pkg=github.com/influxdata/influxdb/cmd/influxd

log() { printf 'setup: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
start=$(date +%s)

# --- Debian packages ----------------------------------------------------------

find_mosquitto() {
  local p
  for p in "${HAZARDGW_MOSQUITTO:-}" "$(command -v mosquitto || true)" /usr/sbin/mosquitto; do
    if [ -n "$p" ] && [ -x "$p" ]; then echo "$p"; return 0; fi
  done
  return 1
}

missing=()
find_mosquitto >/dev/null || missing+=(mosquitto)
command -v mosquitto_sub >/dev/null || missing+=(mosquitto-clients) # a fresh subscriber in the forest e2e test
command -v socat >/dev/null || missing+=(socat)
command -v mbpoll >/dev/null || missing+=(mbpoll)
command -v systemd-analyze >/dev/null || missing+=(systemd) # `systemd-analyze verify` of deploy/hazardgw.service
command -v chromium >/dev/null || missing+=(chromium) # headless, for the browser tests of the demo and the duty console (test/e2e)
command -v "$(go env CC)" >/dev/null || missing+=(gcc libc6-dev)

if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
    sudo=(sudo -n)
  fi
  command -v apt-get >/dev/null || die "no apt-get; install these yourself: ${missing[*]}"
  log "installing ${missing[*]}"
  # Quiet, noninteractive, and nothing to stdout: stdout is for the environment.
  "${sudo[@]}" apt-get update -qq >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}" >&2
fi
mosquitto=$(find_mosquitto) || die "mosquitto is still missing after installing it"

# --- influxd 1.8.10 -----------------------------------------------------------

# Only accept an influxd built from the right module version; `go version -m`
# reads that from the binary (official release builds and influxd 2.x don't match).
is_influxd_1810() {
  [ -n "$1" ] && [ -x "$1" ] &&
    go version -m "$1" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/influxdata/influxdb[[:space:]]+$influx_version([[:space:]]|$)"
}

# The module proxy fallback first: it changes GOPROXY for everything below.
modenv=$("$root/scripts/modbus-module.sh")
eval "$modenv"

influxd=
if [ -n "${HAZARDGW_INFLUXD:-}" ]; then
  [ -x "$HAZARDGW_INFLUXD" ] || die "HAZARDGW_INFLUXD=$HAZARDGW_INFLUXD is not executable"
  influxd=$HAZARDGW_INFLUXD
else
  for p in "$cache/bin/influxd" "$(command -v influxd || true)"; do
    if is_influxd_1810 "$p"; then influxd=$p; break; fi
  done
fi
if [ -z "$influxd" ]; then
  log "building influxd $influx_version into $cache/bin (a few minutes on a fresh machine)"
  tmp=$(mktemp -d "$cache/bin/.influxd.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # Outside the repository, so hazardgw's go.mod plays no part; without -mod
  # flags, which `go install pkg@version` rejects; pure Go, so no C compiler needed.
  goflags=$(printf ' %s ' "${GOFLAGS:-}" | sed -E 's/ -mod=[^ ]+ / /g; s/^ +//; s/ +$//')
  (cd "$tmp" && GOBIN=$tmp GOFLAGS=$goflags GOWORK=off CGO_ENABLED=0 \
    go install "$influx_pkg@$influx_version") >&2 || die "go install $influx_pkg@$influx_version failed"
  mv -f "$tmp/influxd" "$cache/bin/influxd"
  influxd=$cache/bin/influxd
  is_influxd_1810 "$influxd" || die "the influxd just built does not report $influx_version"
fi

# --- the environment ------------------------------------------------------------

# Plain NAME=value when the value needs no quoting (paths, GOPROXY lists), so
# that the file also reads as a dotenv file; shell-quoted otherwise.
emit() {
  if [[ $2 =~ ^[A-Za-z0-9_./:,@%+=-]*$ ]]; then
    printf 'export %s=%s\n' "$1" "$2"
  else
    printf 'export %s=%q\n' "$1" "$2"
  fi
}
{
  emit HAZARDGW_CACHE "$cache"
  emit HAZARDGW_INFLUXD "$influxd"
  emit HAZARDGW_MOSQUITTO "$mosquitto"
  if [ -n "$modenv" ]; then emit GOPROXY "$GOPROXY"; fi
} > "$cache/env.tmp"
mv -f "$cache/env.tmp" "$cache/env"
cat "$cache/env"
log "ready in $(( $(date +%s) - start ))s: influxd $influxd, mosquitto $mosquitto${modenv:+, GOPROXY $GOPROXY}"
