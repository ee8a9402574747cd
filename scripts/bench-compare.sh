#!/usr/bin/env bash
# `make bench-compare`: hazardgw side by side with Telegraf 1.37.2 and the bare
# paho ceiling, on the same queued MQTT workload and the same Modbus device, in
# one run (internal/benchcmp). A benchmark, not a test: it asserts nothing and
# `make test` never runs it.
#
# Builds, all cached under $HAZARDGW_CACHE (default .cache):
#   - Telegraf 1.37.2 from the module proxy with only the plugins the workloads
#     use, into $HAZARDGW_CACHE/bin/telegraf-1.37.2 (once; `go version -m` checks
#     the version and the build tags of a cached binary);
#   - hazardgw from this tree and the driver, into $HAZARDGW_CACHE/bench/.
# Nothing from Telegraf is committed.
#
# Env: BENCH_N (messages per MQTT round, default 200000), BENCH_ROUNDS (3),
# BENCH_MODBUS_DURATION (30s), BENCH_INFLIGHT (1000), BENCH_SKIP_MQTT=1,
# BENCH_SKIP_MODBUS=1, BENCH_WORK (keep the run's configs, logs and data there).
# The output is also saved as $HAZARDGW_CACHE/bench-compare-<time>.txt.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
eval "$(scripts/setup.sh)"
cache=$HAZARDGW_CACHE

telegraf_version=v1.37.2
telegraf_pkg=github.com/influxdata/telegraf/cmd/telegraf
telegraf_tags=custom,inputs.modbus,inputs.mqtt_consumer,outputs.influxdb_v2,parsers.json_v2
telegraf=$cache/bin/telegraf-${telegraf_version#v}

log() { printf 'bench-compare: %s\n' "$*" >&2; }

is_our_telegraf() {
  [ -x "$1" ] || return 1
  local info
  info=$(go version -m "$1" 2>/dev/null) || return 1
  grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/influxdata/telegraf[[:space:]]+$telegraf_version([[:space:]]|$)" <<<"$info" &&
    grep -Eq "^[[:space:]]+build[[:space:]]+-tags=$telegraf_tags$" <<<"$info"
}

if ! is_our_telegraf "$telegraf"; then
  log "building Telegraf $telegraf_version with $telegraf_tags (a minute or several)"
  tmp=$(mktemp -d "$cache/bin/.telegraf.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # Outside the repository, so hazardgw's go.mod plays no part; without -mod
  # flags, which `go install pkg@version` rejects.
  goflags=$(printf ' %s ' "${GOFLAGS:-}" | sed -E 's/ -mod=[^ ]+ / /g; s/^ +//; s/ +$//')
  (cd "$tmp" && GOBIN=$tmp GOFLAGS=$goflags GOWORK=off CGO_ENABLED=0 \
    go install -tags "$telegraf_tags" "$telegraf_pkg@$telegraf_version") >&2 ||
    { log "go install $telegraf_pkg@$telegraf_version failed"; exit 1; }
  mv -f "$tmp/telegraf" "$telegraf"
  is_our_telegraf "$telegraf" || { log "the Telegraf just built does not report $telegraf_version with $telegraf_tags"; exit 1; }
fi

mkdir -p "$cache/bench"
log "building hazardgw and the driver"
go build -o "$cache/bench/hazardgw" ./cmd/hazardgw
go build -o "$cache/bench/benchcmp" ./internal/benchcmp

out=$cache/bench-compare-$(date -u +%Y%m%dT%H%M%SZ).txt
args=(-telegraf "$telegraf" -hazardgw "$cache/bench/hazardgw")
if [ -n "${BENCH_WORK:-}" ]; then
  mkdir -p "$BENCH_WORK"
  args+=(-work "$BENCH_WORK")
fi
"$cache/bench/benchcmp" "${args[@]}" | tee "$out"
log "saved to $out"
