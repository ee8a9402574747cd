package mqtt

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the source's Prometheus series. Counters are resolved once,
// so the data path pays one atomic add per increment.
type metrics struct {
	messages  prometheus.Counter
	arrival   prometheus.Counter // no timestamp
	badClock  prometheus.Counter // implausible timestamp
	arrivalV  *prometheus.CounterVec
	connected prometheus.Gauge
	connects  prometheus.Counter
	rejected  map[reason]prometheus.Counter
	rejectVec *prometheus.CounterVec
	untracked prometheus.Counter
	// acceptRetries counts commits retried after the spool refused them.
	acceptRetries prometheus.Counter
	// restamped counts redeliveries stored at their first copy's time.
	restamped prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hazardgw_mqtt_messages_total",
			Help: "MQTT messages received, good and bad.",
		}),
		arrivalV: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hazardgw_mqtt_arrival_time_total",
			Help: "MQTT messages stored with the gateway's arrival time, by cause: the payload had no timestamp (no_timestamp), or one before 2000 or over an hour ahead (implausible_timestamp: a wrong device or gateway clock).",
		}, []string{"cause"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hazardgw_mqtt_connected",
			Help: "1 while connected to the MQTT broker.",
		}),
		connects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hazardgw_mqtt_connects_total",
			Help: "Successful connections to the MQTT broker (the first one and every reconnection).",
		}),
		rejectVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hazardgw_mqtt_rejected_total",
			Help: "MQTT messages rejected (and acknowledged, so that the broker does not redeliver them), by reason.",
		}, []string{"reason"}),
		rejected: make(map[reason]prometheus.Counter, len(allReasons)),
		untracked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hazardgw_mqtt_untracked_devices_total",
			Help: "Distinct device ids whose liveness is not tracked because mqtt.max_devices devices were learnt (their messages are stored all the same); counted up to 10000.",
		}),
		acceptRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hazardgw_mqtt_accept_retries_total",
			Help: "Commits of MQTT messages retried because the spool refused them (a full or failing disk); the messages stay unacknowledged until stored.",
		}),
		restamped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hazardgw_mqtt_redelivered_restamped_total",
			Help: "Messages without a usable timestamp that the broker delivered again (DUP) and that were stored at the time their first copy got, so that InfluxDB keeps one point.",
		}),
	}
	for _, r := range allReasons {
		m.rejected[r] = m.rejectVec.WithLabelValues(string(r))
	}
	m.arrival = m.arrivalV.WithLabelValues("no_timestamp")
	m.badClock = m.arrivalV.WithLabelValues("implausible_timestamp")
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.messages, m.arrivalV, m.connected, m.connects, m.rejectVec, m.untracked, m.acceptRetries, m.restamped} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("register mqtt metrics: %w (one MQTT source per registry)", err)
			}
			return nil, fmt.Errorf("register mqtt metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) reject(r reason) {
	if c, ok := m.rejected[r]; ok {
		c.Inc()
		return
	}
	m.rejectVec.WithLabelValues(string(r)).Inc()
}
