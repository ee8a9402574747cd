// Package testenv runs the real services that hazardgw's integration tests talk
// to: Mosquitto and InfluxDB 1.8, each as a child process on free loopback ports
// with its own temporary directory.
//
// The tests use real servers, not fakes, because the behaviour under test lives
// in them: a broker that queues QoS 1 messages for a persistent session and keeps
// them across a restart, an InfluxDB that refuses writes while it is down and
// serves them again afterwards. Nothing here uses a fixed port, the machine's
// system services (a Mosquitto on 1883 is never touched), or sleeps where a
// condition can be awaited.
//
// # Finding the servers
//
// Binaries are found in this order: the environment variable
// (HAZARDGW_MOSQUITTO, HAZARDGW_INFLUXD), PATH, then /usr/sbin/mosquitto for the
// broker and $HAZARDGW_CACHE/bin/influxd or <repo>/.cache/bin/influxd for the
// database. scripts/setup.sh installs both and prints these variables; `make
// test` runs it first. A missing server fails the test with instructions: it
// never skips, so a machine that cannot run the integration tests cannot pass
// them either.
//
// # Lifecycle
//
// Mosquitto and InfluxDB start the server, wait until it is ready (its own log
// says it listens and the port answers; for InfluxDB, /ping answers 204), and
// register a t.Cleanup that stops it. If the chosen port was taken in the
// meantime, they retry on fresh ports. Stop and Start stop the server and start
// it again on the same port with the same data, to test outages and restarts.
// Each server runs in its own process group, which is killed on cleanup; the
// kernel also kills it if the test binary dies. The server's log is written to
// a file in the temporary directory and printed when the test fails.
//
// # Full disks
//
// Tmpfs mounts a small tmpfs (the tests run as root) for a data directory
// that FillDisk then fills, to a given margin or to the last byte, without
// touching the machine's own disk; FreeBytes says what is left.
//
// # Other helpers
//
// Eventually awaits a condition, Clock is an injected clock, Go runs a
// component's Run until the test ends, and Buffer collects what several
// goroutines write (log lines, a child process's output).
//
// # Concurrency
//
// Methods that can fail the test (Start, Stop, Restart, CreateDB) must be called
// from the goroutine running the test, like t.Fatal. URL, Addr, Query, Write and
// Count may be called from any goroutine.
//
// # Example
//
//	func TestForwarderSurvivesOutage(t *testing.T) {
//		db := testenv.InfluxDB(t)
//		db.CreateDB("hazard")
//		broker := testenv.Mosquitto(t, testenv.WithMaxQueuedMessages(500_000))
//		// ... start the gateway against broker.URL() and db.URL() ...
//		db.Stop()
//		// ... publish readings; they wait in the spool ...
//		db.Start()
//		testenv.Eventually(t, 30*time.Second, func() bool {
//			return db.Count("hazard", "gas_detector", `"device"='GD-101'`) == 100
//		}, "readings of GD-101 in InfluxDB")
//	}
package testenv
