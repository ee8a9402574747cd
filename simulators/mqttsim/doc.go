// Package mqttsim simulates a site's MQTT devices — fire-detection cameras
// and forest-entry voice checkpoints — for hazardgw's demo and tests.
//
// It encodes the built-in MQTT payloads itself, with encoding/json, and
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
//     with bursts, checkpoints whose Speakers play the last voice command
//     received (Checkpoints and Handler report it), and a scripted
//     smoke-then-fire episode: on CAM-01 after FireAfter, or the scenario's
//     fire (Script).
//   - Script is the mqtt section of a sitesim scenario: where the cameras
//     stand and a fire at a point that some of them see. Their bearings and
//     distance toward it are computed here (BearingTo, DistanceTo: a
//     spherical earth, as a lookout needs), not with the gateway's geo
//     package, so that a mistake there shows as a wrong position.
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
