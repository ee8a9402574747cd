package forest

import "github.com/prometheus/client_golang/prometheus"

// Collector returns the rating's metrics.
func (d *Danger) Collector() prometheus.Collector { return collector{d} }

type collector struct{ d *Danger }

var (
	descLevel   = prometheus.NewDesc("hazardgw_fire_danger_level", "Fire danger level of the last rating written (1-5; 0 before the first).", nil, nil)
	descDry     = prometheus.NewDesc("hazardgw_fire_danger_dry_days", "Consecutive days without rain before the current rating day.", nil, nil)
	descFrozen  = prometheus.NewDesc("hazardgw_fire_danger_frozen", "1 while the station's readings do not count and the rating holds its last level.", nil, nil)
	descRatings = prometheus.NewDesc("hazardgw_fire_danger_ratings_total", "fire_danger points written.", nil, nil)
	descVoice   = prometheus.NewDesc("hazardgw_fire_danger_voice_pending", "1 while the checkpoints are still to be told the current level (the broker is unreachable).", nil, nil)
)

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLevel, descDry, descFrozen, descRatings, descVoice} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	d.mu.Lock()
	level, dry, frozen, ratings := d.level, d.day.DryDays, d.frozen != "", d.ratings
	pending := d.voiceDue && d.level > 0 && d.opts.Publisher != nil && len(d.opts.Checkpoints) > 0
	d.mu.Unlock()
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	ch <- prometheus.MustNewConstMetric(descLevel, prometheus.GaugeValue, float64(level))
	ch <- prometheus.MustNewConstMetric(descDry, prometheus.GaugeValue, float64(dry))
	ch <- prometheus.MustNewConstMetric(descFrozen, prometheus.GaugeValue, b(frozen))
	ch <- prometheus.MustNewConstMetric(descRatings, prometheus.CounterValue, float64(ratings))
	ch <- prometheus.MustNewConstMetric(descVoice, prometheus.GaugeValue, b(pending))
}
