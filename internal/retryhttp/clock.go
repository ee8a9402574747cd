package retryhttp

import (
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A ClockReporter tells how far its receiver's clock is ahead of the
// gateway's, as learnt from the receiver's answers (see Skew).
type ClockReporter interface{ ClockOffset() time.Duration }

var descClockOffset = prometheus.NewDesc("hazardgw_clock_offset_seconds",
	"How far a receiver's clock (its HTTP Date header) is ahead of the gateway's; negative: behind. 0 until a difference of a minute or more was seen.",
	[]string{"receiver"}, nil)

// ClockCollector exports the clock offset each receiver has seen as
// hazardgw_clock_offset_seconds{receiver}: a value far from 0 means the
// gateway's clock is wrong (a dead RTC battery, no NTP), which the
// receivers' signatures already work around but timestamps of readings
// do not.
func ClockCollector(receivers map[string]ClockReporter) prometheus.Collector {
	names := make([]string, 0, len(receivers))
	for n := range receivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return clockCollector{names, receivers}
}

type clockCollector struct {
	names []string
	r     map[string]ClockReporter
}

// Describe implements prometheus.Collector.
func (c clockCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descClockOffset }

// Collect implements prometheus.Collector.
func (c clockCollector) Collect(ch chan<- prometheus.Metric) {
	for _, n := range c.names {
		ch <- prometheus.MustNewConstMetric(descClockOffset, prometheus.GaugeValue, c.r[n].ClockOffset().Seconds(), n)
	}
}
