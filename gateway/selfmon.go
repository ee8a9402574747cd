package gateway

import (
	"context"
	"log/slog"
	"math"
	"time"

	"github.com/hazardgw/hazardgw/gateway/spool"
)

// SelfMonitor reports the gateway's health every Interval as one point of
// measurement "hazardgw", device "gateway": spool depth, size, fill ratio
// and age of the oldest point, and how many points were dropped because the
// spool was full, dead-lettered and written since the previous report.
// Alerting raises an alarm on spool_dropped: when the spool is full, the
// oldest points are dropped, counted, and an alert fires.
//
// spool_dropped counts every point the spool lost since the previous
// report: the oldest dropped at spool_max_bytes, and the points whose
// commit failed (a full or failing disk) and that nobody offers again —
// Modbus polls, and these reports themselves (also in spool_lost). A report
// that cannot be stored is still shown to the pipeline's observers (see
// Pipeline.Unstored) when Run's Acceptor can do that, so that a full disk
// raises the alarm even on a site with MQTT sources only, whose messages
// wait at the broker and are not lost.
type SelfMonitor struct {
	Site     string
	Interval time.Duration // default 10s
	MaxBytes int64         // the spool's limit, for the fill ratio
	Spool    *spool.Spool
	Fwd      *Forwarder
	Logger   *slog.Logger
	Now      func() time.Time
	// MQTTConnected reports whether the MQTT broker connection is up; nil
	// when MQTT is not used.
	MQTTConnected func() bool
	// Damaged counts the data files moved aside at start because they were
	// damaged (the spool's, the MQTT devices file); nil for none.
	Damaged func() int
	// Lost counts the points lost to failed spool commits since start
	// (PipelineStats.Lost); nil for none.
	Lost func() int64

	unstored int64 // reports not stored; owned by Run

	started, mqttDown time.Time // owned by Run
	reports           int
}

// DefaultSelfMonitorInterval is how often the gateway reports its health.
const DefaultSelfMonitorInterval = 10 * time.Second

var _ Source = (*SelfMonitor)(nil)

// Run reports until ctx ends. The first report comes one Interval after start.
func (m *SelfMonitor) Run(ctx context.Context, acc Acceptor) error {
	iv := m.Interval
	if iv <= 0 {
		iv = DefaultSelfMonitorInterval
	}
	now := m.Now
	if now == nil {
		now = time.Now
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	m.started = now()
	var last reportBase
	last.take(m)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		at := now()
		p, next := m.report(last, at)
		if err := acc.Accept(ctx, []Point{p}); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// This report is lost too: count it in, and let alerting see
			// it all the same.
			m.unstored++
			p, _ = m.report(last, at)
			if u, ok := acc.(interface {
				Unstored(context.Context, []Point) error
			}); ok {
				_ = u.Unstored(ctx, []Point{p})
			}
			if m.Logger != nil && (m.unstored == 1 || m.unstored%30 == 0) {
				m.Logger.Warn("gateway health report not stored", "not_stored", m.unstored, "err", err)
			}
			continue // the deltas are reported with the next one
		}
		last = next
	}
}

// reportBase holds the lifetime counters at the previous report.
type reportBase struct{ dropped, lost, dead, written int64 }

func (b *reportBase) take(m *SelfMonitor) {
	st := m.Spool.Stats()
	b.dropped = st.Dropped
	b.lost = m.unstored
	if m.Lost != nil {
		b.lost += m.Lost()
	}
	if m.Fwd != nil {
		fs := m.Fwd.Stats()
		b.dead, b.written = fs.DeadLettered, fs.Written
	}
}

// report builds the point for now, given the counters at the previous report.
func (m *SelfMonitor) report(prev reportBase, now time.Time) (Point, reportBase) {
	var cur reportBase
	cur.take(m)
	st := m.Spool.Stats()
	fill := 0.0
	if m.MaxBytes > 0 {
		fill = float64(st.Bytes) / float64(m.MaxBytes)
	}
	age := 0.0
	if !st.Oldest.IsZero() {
		age = max(0, now.Sub(st.Oldest).Seconds())
	}
	fields := []Field{
		Float("spool_points", float64(st.Count)),
		Float("spool_bytes", float64(st.Bytes)),
		Float("spool_fill", fill),
		Float("spool_oldest_age_s", age),
		Float(FieldSpoolDropped, float64(cur.dropped-prev.dropped+cur.lost-prev.lost)),
		Float(FieldSpoolLost, float64(cur.lost-prev.lost)),
		Float("dead_lettered", float64(cur.dead-prev.dead)),
		Float("written", float64(cur.written-prev.written)),
	}
	stalled := 0.0
	if m.Fwd != nil {
		fs := m.Fwd.Stats()
		fields = append(fields, Bool("sink_failing", fs.Failing))
		since := fs.LastWrite
		if since.Before(m.started) {
			since = m.started
		}
		if st.Count > 0 && !since.IsZero() {
			stalled = max(0, now.Sub(since).Seconds())
		}
	}
	fields = append(fields, Float(FieldSinkStalled, math.Round(stalled)), Float(FieldStorageDamaged, float64(m.damaged())))
	if m.MQTTConnected != nil {
		down := 0.0
		switch {
		case m.MQTTConnected():
			m.mqttDown = time.Time{}
		case m.mqttDown.IsZero():
			// Noticed now; down since start if it never came up before the
			// first report.
			m.mqttDown = now
			if m.reports == 0 && !m.started.IsZero() {
				m.mqttDown = m.started
			}
			down = now.Sub(m.mqttDown).Seconds()
		default:
			down = now.Sub(m.mqttDown).Seconds()
		}
		fields = append(fields, Float(FieldMQTTDown, math.Round(down)))
	}
	m.reports++
	return Point{
		Measurement: MeasurementGateway,
		Tags:        []Tag{{TagSite, m.Site}, {TagDevice, GatewayDevice}},
		Fields:      fields,
		Time:        now,
	}, cur
}

func (m *SelfMonitor) damaged() int {
	if m.Damaged == nil {
		return 0
	}
	return m.Damaged()
}
