package modbus

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the source's counters and device states to Prometheus.
// It reads them at scrape time (the same state [Source.Devices] shows), so
// polling pays nothing for metrics. Register it with the gateway's
// registry:
//
//	reg.MustRegister(src.Collector())
//
// Per-link series are sums over the link's devices, except the request
// round-trip histogram, which the link observes as it polls (one atomic
// add per request, small beside the request's own system calls).
func (s *Source) Collector() prometheus.Collector { return metricsCollector{s} }

type metricsCollector struct{ s *Source }

var (
	descPolls = prometheus.NewDesc("hazardgw_modbus_polls_total",
		"Device polls on the link (including those refused without I/O while the link backs off).", []string{"link"}, nil)
	descPollFailures = prometheus.NewDesc("hazardgw_modbus_poll_failures_total",
		"Polls on the link that produced no values (the device was reported offline).", []string{"link"}, nil)
	descMissed = prometheus.NewDesc("hazardgw_modbus_missed_slots_total",
		"Polling slots skipped on the link because it ran late (slow or timing-out devices).", []string{"link"}, nil)
	descConnectFailures = prometheus.NewDesc("hazardgw_modbus_connect_failures_total",
		"Failed dials or serial port opens, all links.", nil, nil)
	descAcceptErrors = prometheus.NewDesc("hazardgw_modbus_accept_errors_total",
		"Polls whose points the pipeline did not accept (lost), all links.", nil, nil)
	descErrors = prometheus.NewDesc("hazardgw_modbus_errors_total",
		"Failed polls of the device by class: timeout (no answer: often a wrong unit id), exception (the device refused: see its code), crc (a serial frame failed its check), io (dial/open failed, connection broken), protocol (a malformed or mismatched reply).",
		[]string{"link", "device", "class"}, nil)
	devLabels       = []string{"link", "device", "kind"}
	descDevOnline   = prometheus.NewDesc("hazardgw_modbus_device_online", "1 if the device's last poll succeeded; 0 if it failed or the device has not been polled yet.", devLabels, nil)
	descDevRTT      = prometheus.NewDesc("hazardgw_modbus_device_rtt_seconds", "Duration of the device's last poll (all its requests).", devLabels, nil)
	descDevLastPoll = prometheus.NewDesc("hazardgw_modbus_device_last_poll_timestamp_seconds", "Unix time the device's last poll started (0 before the first).", devLabels, nil)
	descDevFailures = prometheus.NewDesc("hazardgw_modbus_device_poll_failures_total", "Failed polls of the device.", devLabels, nil)
)

// requestBuckets span a fast local TCP device (~1 ms) to a slow serial bus
// at its timeout (seconds).
var requestBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

func newRequestHistogram(link string) prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:        "hazardgw_modbus_request_duration_seconds",
		Help:        "Round trip of each successful Modbus request on the link (failed requests count in hazardgw_modbus_poll_failures_total).",
		ConstLabels: prometheus.Labels{"link": link},
		Buckets:     requestBuckets,
	})
}

// Describe implements prometheus.Collector.
func (c metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, l := range c.s.links {
		l.reqTime.Describe(ch)
	}
	for _, d := range []*prometheus.Desc{descPolls, descPollFailures, descMissed, descConnectFailures, descAcceptErrors, descErrors,
		descDevOnline, descDevRTT, descDevLastPoll, descDevFailures} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c metricsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(descConnectFailures, prometheus.CounterValue, float64(st.ConnectFailures))
	ch <- prometheus.MustNewConstMetric(descAcceptErrors, prometheus.CounterValue, float64(st.AcceptErrors))
	for _, l := range c.s.links {
		var polls, failures, missed int64
		for _, d := range l.devs {
			d.mu.Lock()
			ds := d.st // the scalars only; ds.last is not read
			d.mu.Unlock()
			polls += ds.polls
			failures += ds.failures
			missed += ds.missed
			online, last := 0.0, 0.0
			if ds.online {
				online = 1
			}
			if !ds.lastPoll.IsZero() {
				last = float64(ds.lastPoll.UnixNano()) / 1e9
			}
			lv := []string{l.name, d.id, d.kind}
			ch <- prometheus.MustNewConstMetric(descDevOnline, prometheus.GaugeValue, online, lv...)
			ch <- prometheus.MustNewConstMetric(descDevRTT, prometheus.GaugeValue, ds.rtt.Seconds(), lv...)
			ch <- prometheus.MustNewConstMetric(descDevLastPoll, prometheus.GaugeValue, last, lv...)
			ch <- prometheus.MustNewConstMetric(descDevFailures, prometheus.CounterValue, float64(ds.failures), lv...)
			for i, class := range metricClasses {
				ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(d.errs[i].Load()), l.name, d.id, class)
			}
		}
		ch <- prometheus.MustNewConstMetric(descPolls, prometheus.CounterValue, float64(polls), l.name)
		ch <- prometheus.MustNewConstMetric(descPollFailures, prometheus.CounterValue, float64(failures), l.name)
		ch <- prometheus.MustNewConstMetric(descMissed, prometheus.CounterValue, float64(missed), l.name)
		l.reqTime.Collect(ch)
	}
}
