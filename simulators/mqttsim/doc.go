// Package mqttsim simulates a site's MQTT devices — fire-detection cameras
// and forest-entry voice checkpoints — for hazardgw's demo and tests.
//
// It encodes the payloads of SPEC §5 itself, with encoding/json, and
// imports nothing of the gateway: a simulator that shared the gateway's
// decoders would hide their bugs from the tests.
//
//   - CameraEvent and Passage are the payloads; their JSON method encodes them.
//   - Publisher publishes them (or anything, with PublishRaw) at QoS 1 with
//     paho, pipelining up to a window of unacknowledged messages; Flush waits
//     for every PUBACK. Publish methods are safe for concurrent use.
//   - Broker is an embedded mochi-mqtt broker with its inline client, for
//     demos on a machine without Mosquitto.
//   - Site is sitesim's MQTT component: background detections, passages
//     with bursts, and a scripted smoke-then-fire episode on CAM-01.
//
// Example:
//
//	pub, err := mqttsim.NewPublisher(ctx, mqttsim.PublisherOptions{URL: broker, Site: "qz-petro-01"})
//	err = pub.PublishCamera(ctx, mqttsim.CameraEvent{
//		EventID: "CAM-07-000123", CameraID: "CAM-07", TS: time.Now(),
//		Type: mqttsim.Smoke, Confidence: 0.87, BearingDeg: mqttsim.Ptr(132.5),
//	})
//	err = pub.Flush(ctx) // every message acknowledged by the broker
package mqttsim
