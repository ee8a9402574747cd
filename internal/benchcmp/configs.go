package main

import (
	"fmt"
	"strings"
	"time"
)

// The configurations below give Telegraf and hazardgw the same work: the
// same topic, payload fields, tags and timestamps for the MQTT workload; the
// same units, registers and poll interval for Modbus; InfluxDB writes of up
// to 5,000 points at least every second. They are generated, not committed,
// because they name the run's ports and directories.

// cameraTopicFilter is the filter every MQTT consumer subscribes with.
const cameraTopicFilter = "site/+/camera/+/event"

const (
	modbusUnits     = 4
	modbusRegisters = 20
	flushInterval   = time.Second
	batchSize       = 5000
)

// telegrafMQTTConfig drains the camera events like hazardgw's camera_event
// format does: tags site and camera from the topic and type from the
// payload; event_id, confidence, bearing_deg, distance_m, temperature_c and
// image_url as fields; the payload's ts as the time. Telegraf acknowledges
// a message only once its metric is written (persistent_session), so its
// batch is kept below the broker's in-flight window: otherwise a batch could
// never fill and every write would wait for flush_interval.
func telegrafMQTTConfig(brokerURL, clientID, influxURL, bucket string, inflight int) string {
	batch := min(batchSize, max(1, inflight/2))
	return telegrafHead(10*time.Second, false, batch, influxURL, bucket) + fmt.Sprintf(`
[[inputs.mqtt_consumer]]
  servers = [%q]
  topics = [%q]
  topic_tag = ""
  qos = 1
  persistent_session = true
  client_id = %q
  max_undelivered_messages = %d
  data_format = "json_v2"

  [[inputs.mqtt_consumer.topic_parsing]]
    topic = %q
    tags = "_/site/_/camera/_"

  [[inputs.mqtt_consumer.json_v2]]
    measurement_name = "fire_detection"
    timestamp_path = "ts"
    timestamp_format = "2006-01-02T15:04:05.000Z07:00"
    [[inputs.mqtt_consumer.json_v2.tag]]
      path = "type"
    [[inputs.mqtt_consumer.json_v2.field]]
      path = "event_id"
      type = "string"
    [[inputs.mqtt_consumer.json_v2.field]]
      path = "confidence"
      type = "float"
    [[inputs.mqtt_consumer.json_v2.field]]
      path = "bearing_deg"
      type = "float"
      optional = true
    [[inputs.mqtt_consumer.json_v2.field]]
      path = "distance_m"
      type = "float"
      optional = true
    [[inputs.mqtt_consumer.json_v2.field]]
      path = "temperature_c"
      type = "float"
      optional = true
    [[inputs.mqtt_consumer.json_v2.field]]
      path = "image_url"
      type = "string"
      optional = true
`, brokerURL, cameraTopicFilter, clientID, inflight, cameraTopicFilter)
}

// telegrafHead is the agent and InfluxDB output of both Telegraf configs:
// batches of batch metrics, flushed every flushInterval, a buffer large
// enough that a run never drops one.
func telegrafHead(interval time.Duration, round bool, batch int, influxURL, bucket string) string {
	return fmt.Sprintf(`[agent]
  interval = %q
  round_interval = %t
  metric_batch_size = %d
  metric_buffer_limit = 1000000
  collection_jitter = "0s"
  flush_interval = %q
  flush_jitter = "0s"
  omit_hostname = true

[[outputs.influxdb_v2]]
  urls = [%q]
  token = ""
  organization = ""
  bucket = %q
`, interval.String(), round, batch, flushInterval.String(), influxURL, bucket)
}

// telegrafModbusConfig polls the units with one request each (20 contiguous
// holding registers) into measurement "bench".
func telegrafModbusConfig(addr string, interval time.Duration, influxURL, bucket string) string {
	var c strings.Builder
	c.WriteString(telegrafHead(interval, true, batchSize, influxURL, bucket))
	fmt.Fprintf(&c, `
[[inputs.modbus]]
  name = "bench"
  controller = "tcp://%s"
  timeout = "1s"
  configuration_type = "request"
`, addr)
	for u := 1; u <= modbusUnits; u++ {
		fmt.Fprintf(&c, `
  [[inputs.modbus.request]]
    slave_id = %d
    byte_order = "ABCD"
    register = "holding"
    measurement = "bench"
    fields = [
`, u)
		for r := range modbusRegisters {
			fmt.Fprintf(&c, "      { address = %d, name = \"r%02d\", type = \"UINT16\" },\n", r, r)
		}
		c.WriteString("    ]\n")
	}
	return c.String()
}

// hazardgwMQTTConfig is hazardgw's configuration for the MQTT workload.
func hazardgwMQTTConfig(dataDir, brokerURL, clientID, influxURL, bucket string) string {
	return fmt.Sprintf(`site: {id: qz}
gateway: {data_dir: %q, http: {listen: "127.0.0.1:0"}}
influxdb: {url: %q, bucket: %q, batch_size: %d, flush_interval: %s}
mqtt:
  url: %q
  client_id: %q
  subscriptions:
    - {topic: "site/{site}/camera/{camera}/event", format: camera_event, qos: 1}
`, dataDir, influxURL, bucket, batchSize, flushInterval, brokerURL, clientID)
}

// hazardgwModbusConfig is hazardgw's configuration for the Modbus workload:
// one link, the four units as devices of kind "bench" (the measurement),
// registers r00..r19 as uint16.
func hazardgwModbusConfig(dataDir, addr string, interval time.Duration, influxURL, bucket string) string {
	var c strings.Builder
	fmt.Fprintf(&c, `site: {id: bench}
gateway: {data_dir: %q, http: {listen: "127.0.0.1:0"}}
influxdb: {url: %q, bucket: %q, batch_size: %d, flush_interval: %s}
modbus:
  links:
    - name: bench
      url: "tcp://%s"
      timeout: 1s
      devices:
`, dataDir, influxURL, bucket, batchSize, flushInterval, addr)
	for u := 1; u <= modbusUnits; u++ {
		fmt.Fprintf(&c, "        - {id: U%d, unit_id: %d, kind: bench, interval: %s, points: [", u, u, interval)
		for r := range modbusRegisters {
			if r > 0 {
				c.WriteString(", ")
			}
			fmt.Fprintf(&c, "{name: r%02d, area: holding, address: %d, type: uint16}", r, r)
		}
		c.WriteString("]}\n")
	}
	return c.String()
}
