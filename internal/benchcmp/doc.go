// Command benchcmp is `make bench-compare`: it measures hazardgw side by side
// with Telegraf 1.37.2 and with the bare ceiling of this machine, on the same
// workloads, in one run, and prints medians and ratios against the project's
// performance targets (see README.md, "Benchmarks").
//
// It is a benchmark, not a test: it lives in a main package with no test of
// its timings, so `go test ./...` compiles it and tests its pure parts
// (medians, the summary and its verdicts, the generated configurations) but
// never runs a workload. scripts/bench-compare.sh builds what it needs and
// runs it:
//
//	benchcmp -telegraf .cache/bin/telegraf-1.37.2 -hazardgw bin/hazardgw
//
// # Workloads
//
// MQTT: N camera events (the camera_event payload, with ts) are published at
// QoS 1 to one Mosquitto while the consumer is offline, so that the broker
// queues them for the consumer's persistent session (max_queued_messages 0,
// no limit); then the consumer starts and the drain is timed from its start
// until every message is acknowledged (the ceiling: a bare paho subscriber,
// `benchcmp ceiling`, that only counts and acknowledges) or stored in
// InfluxDB 1.8 (Telegraf's mqtt_consumer + json_v2 + influxdb_v2, and
// hazardgw; the driver polls the count). Before each consumer's turn, the
// others' sessions are removed, so that only its own session queues the
// messages. hazardgw keeps one data_dir across the rounds, as an edge box
// does.
//
// Modbus: 4 unit ids × 20 holding registers every 100 ms for a fixed time
// against a modbussim server in this process, stored in InfluxDB by Telegraf
// (inputs.modbus, one request per unit) and by hazardgw.
//
// Each program runs as its own process; its CPU is the user + system time of
// its rusage and its peak RSS the rusage's maxrss, read when it exits. The
// programs alternate within each round (ceiling, Telegraf, hazardgw, ceiling,
// ...), so a machine that gets busier part-way hurts all of them alike.
//
// # Settings
//
// Environment variables (defaults in brackets): BENCH_N [200000] messages
// per MQTT round, BENCH_ROUNDS [3], BENCH_MODBUS_DURATION [30s] per Modbus
// run, BENCH_INFLIGHT [1000] the broker's max_inflight_messages,
// BENCH_SKIP_MODBUS or BENCH_SKIP_MQTT set to 1 to leave one workload out.
package main
