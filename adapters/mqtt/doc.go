// Package mqtt is hazardgw's MQTT source: it subscribes to the feeds of
// fire-detection cameras and forest-entry checkpoints (and, through a
// configurable JSON mapping, other vendors' devices), turns each message
// into a point of the InfluxDB schema and commits it to the spool before the broker
// learns that it was received.
//
// # Delivery: at least once, and no duplicates in InfluxDB
//
// paho's defaults lose messages; the Source configures it otherwise:
//
//   - a persistent session (clean session off) under a stable client id, so
//     the broker queues QoS 1 messages while the gateway is down;
//   - a default publish handler set before connecting, so messages the broker
//     delivers from the session's queue right after CONNACK are not dropped;
//   - subscriptions made again on every connection (paho does not restore
//     them, and a broker without persistence has forgotten them);
//   - manual acknowledgement: a QoS 1 message is acknowledged only after
//     Acceptor.Accept returned nil for its point, i.e. after the spool's
//     fsync. If Accept fails (shutdown, spool error) the message is not
//     acknowledged and the broker sends it again in the next session.
//
// A message can therefore arrive twice (a crash between the commit and the
// PUBACK); it then yields the same point — same series, same payload
// timestamp — which InfluxDB stores once. A message without a usable
// timestamp is stored at its arrival time, and that time is remembered
// with a hash of its topic and payload (the last 65,536 such messages, in
// data_dir/mqtt-stamps, written and fdatasync'd before the spool commit of
// its point). A redelivery — the broker sets DUP on a message it sends
// again — is stored at the remembered time, so again one point. Only
// redeliveries are looked up: the same payload published twice (a
// heartbeat without ts every 30 s) is two messages and two points. The one
// case left: a crash after a message arrived and before its stamp was
// written, when an identical payload came earlier; its redelivery then
// takes the earlier message's time, and one of two identical rows is kept.
//
// A payload that is not valid for its format is rejected: counted in
// hazardgw_mqtt_rejected_total{reason}, logged at most once per reason per
// 10 s (with the number suppressed), and acknowledged, so that the broker
// does not redeliver it forever.
//
// # Concurrency
//
// paho runs the handler on the goroutine that reads the connection
// (SetOrderMatters(true)); it hands the message to a bounded queue. When
// the queue is full, a QoS 1 message waits for room, and paho stops reading
// the connection meanwhile, so a backlog waits in the broker rather than in
// memory (a broker resuming a session may send its whole backlog at once);
// a waiting message whose connection is lost is left unacknowledged for
// the broker to send again. QoS 0 messages are dropped when the queue is
// full. Config.Workers
// goroutines (default 4) each take whatever is queued, up to 500 messages,
// decode them, Accept them in one call — the pipeline group-commits
// concurrent calls into one transaction — and acknowledge them. A slow spool
// slows the workers, which stops the acknowledgements, which stops the
// broker: back-pressure without unbounded memory. Order across messages is
// not kept; every point carries its own timestamp.
//
// Run blocks until its ctx ends and everything it started has returned;
// Devices, Declared, Damaged and Connected may be called from any goroutine. Decoders and
// templates are pure and safe for concurrent use; the decoders allocate only
// the strings a point keeps (event ids, URLs, plates).
//
// # Liveness
//
// Devices are tracked by id: a camera's events and its device_status
// heartbeats are one device. Declared devices (Config.Devices) are known
// from start; others are learnt from traffic, remembered in the data
// directory across restarts, up to Config.MaxDevices (beyond it their
// messages are stored as usual, but not tracked: counted in
// hazardgw_mqtt_untracked_devices_total and reported as field
// mqtt_untracked_devices of the gateway's own measurement).
//
// Each tracked device gets a device_status point (online=true) on first
// sight and on its first good message after a silence or an outage; one
// silent longer than its stale duration gets online=false. Every
// device_status point carries quality and reason: good; bad/fault (its
// heartbeat says so); bad/offline (silent, or its heartbeat says online:
// false); bad/broker_down. When the broker connection is lost, every device
// gets a broker_down point without an online field at once — a one-second
// blip must not look like every camera going offline — and the stale
// timers keep running: a
// device silent past its stale duration during the outage gets its
// online=false point on time, with reason broker_down. A reconnection
// restarts no timer; a device that was silent through the outage is
// offline as soon as its stale duration is over. A device known at start
// (declared, or remembered) that stays silent is offline once its stale
// duration has passed since start.
//
// # Example
//
//	src, err := mqtt.New(mqtt.Config{
//		URL:      "tcp://127.0.0.1:1883",
//		ClientID: "hazardgw-qz-petro-01",
//		Subscriptions: []mqtt.Subscription{
//			{Topic: "site/{site}/camera/{camera}/event", Format: mqtt.FormatCameraEvent},
//			{Topic: "site/{site}/checkpoint/{checkpoint}/passage", Format: mqtt.FormatCheckpointPassage},
//		},
//	}, "qz-petro-01", logger, prometheus.DefaultRegisterer)
//	if err != nil {
//		return err
//	}
//	return src.Run(ctx, pipeline) // pipeline is a gateway.Acceptor
package mqtt
