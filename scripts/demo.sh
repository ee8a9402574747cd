#!/usr/bin/env bash
# `make demo`: a whole simulated site on this machine, until Ctrl-C.
#
# It builds bin/hazardgw and bin/sitesim, starts a local InfluxDB 1.8.10 (the
# influxd that scripts/setup.sh installs into .cache/bin; skipped when
# INFLUX_URL is set), sitesim (Modbus devices on the fast timeline of
# configs/scenarios/demo.yaml, cameras and checkpoints on its embedded MQTT
# broker, and the duty desk with its officer page), and
# `hazardgw run -config configs/demo.yaml`. Ctrl-C (or SIGTERM) stops them all
# and waits for them; if one of them dies, the others are stopped too.
#
# What the site shows, in seconds since sitesim started (the timeline repeats
# every 3 minutes; configs/scenarios/demo.yaml has the details):
#
#   0s       live values: gas detectors, a crude-oil tank, a weather station,
#            camera detections below the alarm threshold, checkpoint passages
#   ~20s     GD-101 CH4 passes 25 %LEL: combustible-gas fires yellow
#   ~20s     WS-01 turns hot, dry and windy: the fire danger (LY/T 1172) rises
#            from level 2 to 3 (fire-danger yellow) and, near 35s, to 4
#            (orange; index 86 at 27 °C, RH 28 %, 6.5 m/s, 6 dry days); each
#            level is a retained voice command to KK-01 and KK-02, which
#            sitesim's checkpoints play (KK-02's speaker is broken:
#            voice-missed, orange)
#   ~31s     a fire at 25.0750 N 118.1700 E: CAM-01 reports smoke with
#            confidence 0.7, forest-fire red with a position from its bearing
#            and distance; CAM-02 sees it too (a triangulated position); from
#            ~46s flames: the same alert changes to fire (alert.changed),
#            triangulated; it ends 2 min after the last report (~220s)
#   ~40s     ... CH4 passes 50 %LEL: the alert changes to red
#   30-150s  TK-101 fills at 150 mm/min: tank-level-rising (orange) once the
#            rise over a minute exceeds 30 mm
#   55-80s   GD-102 stops answering: device-offline (orange), resolved when it
#            answers again
#   ~125s    CH4 back to normal: combustible-gas resolves
#
# The terminal shows the timeline as it happens (also in
# $DEMO_DIR/timeline.log): every notification the duty desk receives, every
# voice command a checkpoint gets, what the fire's cameras see.
#
# Every alert reaches the duty desk page, signed; its Acknowledge button goes
# through the desk to the gateway's API.
#
# Env (defaults in brackets):
#   DEMO_DIR [.cache/demo]       state: gateway data, InfluxDB data, logs
#                                (cleared at each start: every demo starts fresh)
#   DEMO_BIN [bin]               where the binaries are built
#   DEMO_API_PORT [8080]         gateway HTTP API
#   DEMO_DESK_PORT [9090]        duty desk page and webhook receiver
#   DEMO_SITESIM_PORT [8090]     sitesim control API
#   DEMO_MODBUS_PORT [5020]      Modbus TCP
#   DEMO_MQTT_PORT [1884]        sitesim's embedded MQTT broker (not 1883, which
#                                a system Mosquitto may hold)
#   DEMO_INFLUX_PORT [8086]      the local InfluxDB's HTTP API
#   DEMO_INFLUX_RPC_PORT [8088]  its backup/restore RPC port (loopback)
#   INFLUX_URL, INFLUX_TOKEN     use this InfluxDB instead of starting one
#                                (database "hazard" must exist there)
#   HAZARDGW_API_TOKEN [demo-token], DUTYDESK_SECRET [the one in demo.yaml]
#   HAZARDGW_INFLUXD             the influxd to run (else .cache/bin, PATH, or
#                                scripts/setup.sh installs it)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export DEMO_DIR=${DEMO_DIR:-$root/.cache/demo}
export DEMO_API_PORT=${DEMO_API_PORT:-8080}
export DEMO_DESK_PORT=${DEMO_DESK_PORT:-9090}
export DEMO_SITESIM_PORT=${DEMO_SITESIM_PORT:-8090}
export DEMO_MODBUS_PORT=${DEMO_MODBUS_PORT:-5020}
export DEMO_MQTT_PORT=${DEMO_MQTT_PORT:-1884}
export DEMO_INFLUX_PORT=${DEMO_INFLUX_PORT:-8086}
export DEMO_INFLUX_RPC_PORT=${DEMO_INFLUX_RPC_PORT:-8088}
export HAZARDGW_API_TOKEN=${HAZARDGW_API_TOKEN:-demo-token}
# The same default as configs/demo.yaml: the desk must verify what the gateway signs.
export DUTYDESK_SECRET=${DUTYDESK_SECRET:-whsec_ZGVtby1zZWNyZXQtZm9yLXRoZS1zaXRlc2ltLWR1dHktZGVzaw==}
bin=${DEMO_BIN:-$root/bin}

log() { printf 'demo: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# http METHOD PORT PATH: the status code of a request to 127.0.0.1:PORT, with
# bash's /dev/tcp, so that the demo needs no curl.
http() {
  local fd code
  exec {fd}<>"/dev/tcp/127.0.0.1/$2" || return 1
  printf '%s %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nContent-Length: 0\r\n\r\n' "$1" "$3" "$2" >&"$fd"
  IFS=' ' read -r -t 10 _ code _ <&"$fd" || code=
  exec {fd}>&-
  printf '%s' "$code"
}

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() { ! (exec 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$1"); }

# --- children ---------------------------------------------------------------

pids=()
names=()
stopping=

stop_all() {
  [ -n "$stopping" ] && return
  stopping=1
  local i rc
  # The gateway first, so it drains while InfluxDB and the desk still answer.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait_pid "${pids[i]}" 30 || { log "${names[i]} did not stop in 30s; killing it"; kill -KILL "${pids[i]}" 2>/dev/null || true; }
    rc=0
    wait "${pids[i]}" 2>/dev/null || rc=$?
    # 127: already reaped by `wait -n` below, which reported it; 143: the
    # tail of the timeline, which ends on SIGTERM.
    [ "$rc" = 0 ] || [ "$rc" = 127 ] || { [ "$rc" = 143 ] && [ "${names[i]}" = timeline ]; } ||
      log "${names[i]} exited with status $rc"
  done
}

# wait_pid PID SECONDS: true when PID has exited within SECONDS.
wait_pid() {
  local n=$(($2 * 10))
  while kill -0 "$1" 2>/dev/null; do
    ((n-- > 0)) || return 1
    sleep 0.1
  done
}

on_signal() {
  echo >&2
  log "stopping…"
  stop_all
  log "stopped"
  exit 0
}
trap on_signal INT TERM
trap 'stop_all' EXIT

# start NAME LOGFILE CMD...: runs CMD in the background, its output in LOGFILE,
# in a session of its own: Ctrl-C reaches only this script, which then stops
# the gateway first, so that it drains while InfluxDB and the desk still answer.
setsid=()
command -v setsid >/dev/null && setsid=(setsid)
start() {
  local name=$1 logfile=$2
  shift 2
  "${setsid[@]}" "$@" >"$logfile" 2>&1 </dev/null &
  pids+=($!)
  names+=("$name")
}

# await NAME PID SECONDS CHECK...: waits until CHECK succeeds, failing when the
# process exits or the time is up.
await() {
  local name=$1 pid=$2 n=$(($3 * 10))
  shift 3
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$DEMO_DIR/$name.log" >&2 || true; die "$name exited during start (log: $DEMO_DIR/$name.log)"; }
    ((n-- > 0)) || { tail -n 30 "$DEMO_DIR/$name.log" >&2 || true; die "$name not ready in $3s (log: $DEMO_DIR/$name.log)"; }
    sleep 0.1
  done
}
is_status() { [ "$(http GET "$2" "$3")" = "$1" ]; }

# --- build ------------------------------------------------------------------

command -v go >/dev/null || die "go is not on PATH (hazardgw needs Go 1.26)"
eval "$("$root/scripts/modbus-module.sh")"
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
log "building hazardgw and sitesim into $bin ($version)"
mkdir -p "$bin"
go build -ldflags "-X main.version=$version" -o "$bin/" ./cmd/hazardgw ./cmd/sitesim

# --- ports, state -----------------------------------------------------------

ports=(DEMO_API_PORT DEMO_DESK_PORT DEMO_SITESIM_PORT DEMO_MODBUS_PORT DEMO_MQTT_PORT)
[ -z "${INFLUX_URL:-}" ] && ports+=(DEMO_INFLUX_PORT DEMO_INFLUX_RPC_PORT)
declare -A taken=()
for p in "${ports[@]}"; do
  [ -z "${taken[${!p}]:-}" ] || die "$p and ${taken[${!p}]} are both ${!p}; give each its own port"
  taken[${!p}]=$p
  port_free "${!p}" || die "port ${!p} is in use (another demo?); set $p to move it"
done
mkdir -p "$DEMO_DIR"
DEMO_DIR=$(cd "$DEMO_DIR" && pwd)
# Only what this script puts there: DEMO_DIR may be a directory of the user's.
rm -rf "$DEMO_DIR/gateway" "$DEMO_DIR/influxdb" "$DEMO_DIR/influxdb.conf" "$DEMO_DIR/dutydesk.jsonl" \
  "$DEMO_DIR/hazardgw.log" "$DEMO_DIR/sitesim.log" "$DEMO_DIR/influxd.log" "$DEMO_DIR/timeline.log"

# --- InfluxDB ---------------------------------------------------------------

if [ -z "${INFLUX_URL:-}" ]; then
  influxd=${HAZARDGW_INFLUXD:-}
  if [ -z "$influxd" ]; then
    for p in "${HAZARDGW_CACHE:-$root/.cache}/bin/influxd" "$(command -v influxd || true)"; do
      if [ -n "$p" ] && [ -x "$p" ]; then influxd=$p; break; fi
    done
  fi
  if [ -z "$influxd" ]; then
    log "no influxd yet: running scripts/setup.sh to install InfluxDB 1.8.10"
    eval "$("$root/scripts/setup.sh")"
    influxd=$HAZARDGW_INFLUXD
  fi
  mkdir -p "$DEMO_DIR/influxdb"
  cat >"$DEMO_DIR/influxdb.conf" <<EOF
# written by scripts/demo.sh
reporting-disabled = true
bind-address = "127.0.0.1:$DEMO_INFLUX_RPC_PORT"
[meta]
  dir = "$DEMO_DIR/influxdb/meta"
  logging-enabled = false
[data]
  dir = "$DEMO_DIR/influxdb/data"
  wal-dir = "$DEMO_DIR/influxdb/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$DEMO_INFLUX_PORT"
  auth-enabled = false
  log-enabled = false
  pprof-enabled = false
EOF
  log "starting influxd on 127.0.0.1:$DEMO_INFLUX_PORT"
  start influxd "$DEMO_DIR/influxd.log" "$influxd" run -config "$DEMO_DIR/influxdb.conf"
  await influxd "${pids[-1]}" 60 is_status 204 "$DEMO_INFLUX_PORT" /ping
  [ "$(http POST "$DEMO_INFLUX_PORT" '/query?q=CREATE%20DATABASE%20hazard')" = 200 ] || die "could not create database hazard"
  export INFLUX_URL=http://127.0.0.1:$DEMO_INFLUX_PORT
else
  log "using the InfluxDB at $INFLUX_URL (database hazard must exist)"
fi

# --- sitesim, then the gateway ----------------------------------------------

api=http://127.0.0.1:$DEMO_API_PORT
log "starting sitesim (Modbus :$DEMO_MODBUS_PORT, MQTT :$DEMO_MQTT_PORT, duty desk :$DEMO_DESK_PORT)"
start sitesim "$DEMO_DIR/sitesim.log" "$bin/sitesim" \
  -scenario configs/scenarios/demo.yaml \
  -modbus-listen "127.0.0.1:$DEMO_MODBUS_PORT" \
  -http "127.0.0.1:$DEMO_SITESIM_PORT" \
  -mqtt-embedded "127.0.0.1:$DEMO_MQTT_PORT" -mute-checkpoint KK-02 \
  -timeline "$DEMO_DIR/timeline.log" \
  -dutydesk-listen "127.0.0.1:$DEMO_DESK_PORT" -dutydesk-log "$DEMO_DIR/dutydesk.jsonl" \
  -gateway-api "$api"
started=$(date +%s)
await sitesim "${pids[-1]}" 30 is_status 200 "$DEMO_DESK_PORT" /healthz

log "starting hazardgw run -config configs/demo.yaml"
start hazardgw "$DEMO_DIR/hazardgw.log" "$bin/hazardgw" run -config configs/demo.yaml
await hazardgw "${pids[-1]}" 60 is_status 200 "$DEMO_API_PORT" /readyz

q='SELECT last(ch4) FROM gas_detector GROUP BY device'
cat <<EOF

  hazardgw demo is running ($(($(date +%s) - started))s into the site's timeline). Ctrl-C stops it.

  Duty console (the gateway's own page):         $api/#token=$HAZARDGW_API_TOKEN
  Duty desk (officer page, Acknowledge button):  http://127.0.0.1:$DEMO_DESK_PORT/
    its deliveries as JSON:                       curl -s http://127.0.0.1:$DEMO_DESK_PORT/deliveries.json
  Gateway API (token $HAZARDGW_API_TOKEN):
    curl -s -H 'Authorization: Bearer $HAZARDGW_API_TOKEN' $api/api/v1/alerts?state=all
    curl -s -H 'Authorization: Bearer $HAZARDGW_API_TOKEN' $api/api/v1/devices
    curl -s $api/metrics
  InfluxDB (database hazard):
    curl -sG $INFLUX_URL/query --data-urlencode db=hazard --data-urlencode "q=$q"
  Simulated devices:                              curl -s http://127.0.0.1:$DEMO_SITESIM_PORT/api/units
  Checkpoints' last voice commands:               curl -s http://127.0.0.1:$DEMO_SITESIM_PORT/api/mqtt/checkpoints
  Logs: $DEMO_DIR/{hazardgw,sitesim,influxd}.log

  Timeline: ~20s gas leak yellow (25 %LEL), fire danger level 3 and ~35s
  level 4 (voice commands to the checkpoints), ~31s smoke at CAM-01 with the
  fire's position, ~46s flames (the same alert), ~40s gas red, 30-150s tank
  filling (rate alarm), 55-80s GD-102 offline and back. As it happens:

EOF

# The timeline, as it happens, on the terminal (stopped with the others).
tail -n +1 -f "$DEMO_DIR/timeline.log" &
pids+=($!)
names+=(timeline)

# Until a signal (handled by on_signal) or until one of them exits.
while :; do
  wait -n || true
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[i]}" 2>/dev/null; then
      [ -n "$stopping" ] && exit 0
      log "${names[i]} exited unexpectedly; its log ends:"
      tail -n 20 "$DEMO_DIR/${names[i]}.log" >&2 || true
      stop_all
      exit 1
    fi
  done
done
