package alerting

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the engine's counters to Prometheus, read at scrape
// time. Register it with the gateway's registry:
//
//	reg.MustRegister(eng.Collector())
func (e *Engine) Collector() prometheus.Collector { return collector{e} }

type collector struct{ e *Engine }

var (
	descSamples     = prometheus.NewDesc("hazardgw_alert_samples_total", "Readings, statuses and events evaluated by the alert rules.", nil, nil)
	descTransitions = prometheus.NewDesc("hazardgw_alert_transitions_total", "Alert transitions (firing, changed, resolved, acknowledged).", nil, nil)
	descNotes       = prometheus.NewDesc("hazardgw_alert_notifications_total", "Notifications committed to the outbox, all receivers.", nil, nil)
	descDelivered   = prometheus.NewDesc("hazardgw_alert_notifications_delivered_total", "Notifications a receiver accepted.", nil, nil)
	descDeadLetter  = prometheus.NewDesc("hazardgw_alert_notifications_dead_lettered_total", "Notifications a receiver refused for good (4xx other than 429).", nil, nil)
	descNotifyErr   = prometheus.NewDesc("hazardgw_alert_notify_errors_total", "Notify calls that failed and were retried by the engine.", nil, nil)
	descWaits       = prometheus.NewDesc("hazardgw_alert_queue_waits_total", "Times the pipeline waited because alert evaluation was behind.", nil, nil)
	descCommitErr   = prometheus.NewDesc("hazardgw_alert_commit_errors_total", "Failed alert store transactions (retried).", nil, nil)
	descOpen        = prometheus.NewDesc("hazardgw_alerts_open", "Open alerts: active, or cleared and not yet acknowledged.", nil, nil)
	descActive      = prometheus.NewDesc("hazardgw_alerts_active", "Alerts whose condition is active (acknowledged or not), by severity.", []string{"severity"}, nil)
	descOutbox      = prometheus.NewDesc("hazardgw_alert_outbox_notifications", "Notifications waiting in the outbox.", []string{"receiver"}, nil)
	descAlarmRate   = prometheus.NewDesc("hazardgw_alarm_rate_10m", "Alarms (new occurrences) fired in the last 10 minutes, sliding; above 10 raises gateway:alarm-flood.", nil, nil)
	descDeadKept    = prometheus.NewDesc("hazardgw_alert_dead_letters", "Dead-lettered notifications kept in the alert store.", []string{"receiver"}, nil)
	descGrouped     = prometheus.NewDesc("hazardgw_alert_group_members", "Notifications held in a group window (notify group_by), not yet in the outbox.", []string{"receiver"}, nil)
	descReserve     = prometheus.NewDesc("hazardgw_alert_store_reserve_bytes", "Disk space the alert store keeps allocated beyond its data, for alarms on a full disk (0: used up or not available).", nil, nil)
)

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSamples, descTransitions, descNotes, descDelivered, descDeadLetter,
		descNotifyErr, descWaits, descCommitErr, descOpen, descActive, descOutbox, descDeadKept, descAlarmRate, descGrouped, descReserve} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.e.Stats()
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(descSamples, s.Samples)
	counter(descTransitions, s.Transitions)
	counter(descNotes, s.Notifications)
	counter(descDelivered, s.Delivered)
	counter(descDeadLetter, s.DeadLettered)
	counter(descNotifyErr, s.NotifyErrors)
	counter(descWaits, s.QueueWaits)
	counter(descCommitErr, s.CommitErrors)
	ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(s.Open))
	ch <- prometheus.MustNewConstMetric(descAlarmRate, prometheus.GaugeValue, float64(s.AlarmRate10m))
	// Every severity, so that a dashboard or an alert rule sees 0, not nothing.
	for _, sev := range []string{SeverityRed, SeverityOrange, SeverityYellow, SeverityBlue} {
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(s.Active[sev]), sev)
	}
	c.e.mu.Lock()
	st := c.e.st
	c.e.mu.Unlock()
	if st == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(descReserve, prometheus.GaugeValue, float64(max(st.reserveLeft(), 0)))
	outbox, dead, _, err := st.depth()
	if err != nil {
		return // the store is closing
	}
	grouped, err := st.grouped()
	if err != nil {
		return
	}
	for _, rc := range c.e.receivers {
		ch <- prometheus.MustNewConstMetric(descGrouped, prometheus.GaugeValue, float64(grouped[rc.name]), rc.name)
		ch <- prometheus.MustNewConstMetric(descOutbox, prometheus.GaugeValue, float64(outbox[rc.name]), rc.name)
		ch <- prometheus.MustNewConstMetric(descDeadKept, prometheus.GaugeValue, float64(dead[rc.name]), rc.name)
	}
}
