package modbus

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hazardgw/hazardgw/gateway"
)

// link owns one TCP endpoint or serial bus. Its run goroutine is the only
// user of conn and of the fields from due on, so requests on the link are
// strictly serialised without a lock.
type link struct {
	name, site string
	maxBackoff time.Duration
	conn       conn
	devs       []*device
	log        *slog.Logger
	now        func() time.Time
	jitter     func() float64 // [0,1)
	stats      *counters
	reqTime    prometheus.Histogram // round trip of each successful request

	due         []time.Time // next scheduled poll of devs[i]
	connFails   int         // consecutive failed connects; >0: backing off until retryAt
	retryAt     time.Time
	connErr     error
	acceptFails int64 // polls lost to consecutive failed Accepts
	// oos reports whether a device is out of service (Source.OutOfService).
	oos func(device string) bool
}

// batchFor bounds how long points read from one device may wait for the
// link's next due devices before they are handed over together.
const batchFor = 20 * time.Millisecond

// run polls the link's devices, each at its own interval, until ctx ends.
// Devices due at the same moment (typically all of a link's devices on one
// poll grid) are polled back to back and their points handed over in one
// Accept: one hand-off to the pipeline per tick rather than per device. A
// device whose last poll failed is not waited for: what was read before
// it is handed over first, so that a dead unit's timeout does not delay the
// others' readings; nor is anything held for longer than batchFor.
func (l *link) run(ctx context.Context, acc gateway.Acceptor) {
	defer l.conn.close()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := l.now()
	for i := range l.due {
		l.due[i] = start
	}
	var pending []gateway.Point // read, not yet handed over
	var pendingSince time.Time
	polls := 0 // the polls pending's points are from
	flush := func() {
		if len(pending) > 0 {
			l.accept(ctx, acc, pending, polls)
			pending = nil // the acceptor's observers may keep them
		}
		polls = 0
	}
	defer flush() // a poll that completed is stored even if shutdown began
	for {
		i := earliest(l.due)
		now := l.now()
		wait := l.due[i].Sub(now)
		if len(pending) > 0 && (wait > 0 || l.devs[i].failing || now.Sub(pendingSince) >= batchFor) {
			flush()
		}
		if wait > idleClose {
			_ = l.conn.close()
		}
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		d := l.devs[i]
		if len(pending) == 0 {
			pendingSince = l.now()
		}
		pending = l.read(ctx, d, pending)
		polls++
		next, missed := nextSlot(l.due[i], d.interval, l.now())
		l.due[i] = next
		if missed > 0 {
			l.stats.missed.Add(int64(missed))
			d.mu.Lock()
			d.st.missed += int64(missed)
			d.mu.Unlock()
		}
	}
}

// poll reads one device and hands its points to acc.
func (l *link) poll(ctx context.Context, acc gateway.Acceptor, d *device) {
	if pts := l.read(ctx, d, nil); len(pts) > 0 {
		l.accept(ctx, acc, pts, 1)
	}
}

// read polls one device and appends its points to dst: the values and an
// online device_status if every request succeeded, only an offline
// device_status otherwise; nothing if shutdown cut the poll short.
func (l *link) read(ctx context.Context, d *device, dst []gateway.Point) []gateway.Point {
	start := l.now()
	err := l.ensureConn(start)
	if err == nil {
		err = l.readDevice(ctx, d)
	}
	rtt := l.now().Sub(start)
	if err != nil && ctx.Err() != nil {
		return dst // cut short by shutdown: says nothing about the device
	}
	l.stats.polls.Add(1)
	var errText string
	d.failing = err != nil
	if err != nil {
		l.stats.failures.Add(1)
		d.errs[metricClass(err)].Add(1)
		errText = statusText(err)
	}
	var dq pointQ
	var fault, maint bool
	if err == nil {
		dq, fault, maint = d.qp.judge(d.vals, d.q, l.oos != nil && l.oos(d.id))
	}
	prev := d.record(start, rtt, err, errText, dq)
	if lvl, msg, ok := change(prev, err); ok {
		if err != nil {
			l.log.Log(ctx, lvl, msg, "device", d.id, "unit", d.unit, "err", errText)
		} else {
			l.log.Log(ctx, lvl, msg, "device", d.id, "unit", d.unit)
		}
	}
	return d.appendPoints(dst, start, rtt, err, errText, dq, fault, maint)
}

// accept hands pts, read in polls polls of the link's devices, to acc.
func (l *link) accept(ctx context.Context, acc gateway.Acceptor, pts []gateway.Point, polls int) {
	// Polls that completed are stored even if shutdown began meanwhile: the
	// pipeline outlives the sources, so this waits at most for its queue.
	if err := acc.Accept(context.WithoutCancel(ctx), pts); err != nil {
		l.stats.acceptErrors.Add(int64(polls))
		l.acceptFails += int64(polls)
		if l.acceptFails == int64(polls) && ctx.Err() == nil {
			l.log.Warn("points not accepted; they are lost until accepting works again", "polls", polls, "err", err)
		}
		return
	}
	if l.acceptFails > 0 {
		l.log.Info("points accepted again", "lost_polls", l.acceptFails)
		l.acceptFails = 0
	}
}

// ensureConn opens the link unless it is backing off after failed attempts.
func (l *link) ensureConn(now time.Time) error {
	if l.connFails > 0 && now.Before(l.retryAt) {
		return l.connErr
	}
	err := l.conn.connect()
	if err == nil {
		if l.connFails > 0 {
			l.log.Info("link reconnected", "failed_attempts", l.connFails)
			l.connFails = 0
		}
		return nil
	}
	_ = l.conn.close()
	l.stats.connectFailures.Add(1)
	l.connFails++
	wait := backoff(l.connFails, l.maxBackoff, l.jitter())
	l.retryAt = l.now().Add(wait)
	ce := &connectError{err: err}
	if l.connFails == 1 || l.connErr == nil || l.connErr.Error() != ce.Error() {
		l.log.Warn("link down; backing off", "err", ce.err, "retry_in", wait.Round(time.Millisecond))
	} else {
		l.log.Debug("link still down", "err", ce.err, "failed_attempts", l.connFails, "retry_in", wait)
	}
	l.connErr = ce
	return ce
}

// readDevice sends the device's reads in order and decodes them into
// d.vals. After any error it closes the connection: a late reply to a timed
// out request would otherwise be taken for the answer to the next one
// (goburrow matches transaction ids but does not skip stale frames).
func (l *link) readDevice(ctx context.Context, d *device) error {
	for ri := range d.plan.reads {
		if ri > 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		r := &d.plan.reads[ri]
		t0 := l.now()
		data, err := l.conn.read(d.unit, r.area, r.start, r.count)
		if err == nil {
			l.reqTime.Observe(l.now().Sub(t0).Seconds())
			if err = d.plan.decode(ri, data, d.vals); err != nil {
				err = fmt.Errorf("read %s %d+%d from unit %d: %w", r.area, r.start, r.count, d.unit, err)
			}
		}
		if err != nil {
			_ = l.conn.close()
			return err
		}
	}
	return nil
}

// change decides whether a poll's outcome is worth a log line: devices are
// logged when they go offline, come back, or fail differently, not on
// every poll. prev is the device's state before the poll.
func change(prev devStatus, err error) (lvl slog.Level, msg string, ok bool) {
	switch {
	case err == nil && !prev.polled:
		return slog.LevelDebug, "device online", true
	case err == nil && !prev.online:
		return slog.LevelInfo, "device back online", true
	case err == nil:
		return 0, "", false
	case !prev.polled || prev.online:
		return slog.LevelWarn, "device offline", true
	case prev.class != classify(err):
		return slog.LevelWarn, "device still offline, failing differently", true
	}
	return 0, "", false
}

// appendPoints appends the points of one poll to dst: its device_status, first, so
// that whoever observes the batch knows the readings' quality before it
// sees them, then the device's good and uncertain values (none if the poll
// failed; bad values are never stored). They are allocated per poll, not
// reused, because an Acceptor's observers may keep them; the tags are
// shared and immutable.
func (d *device) appendPoints(dst []gateway.Point, start time.Time, rtt time.Duration, err error, errText string, dq pointQ, fault, maint bool) []gateway.Point {
	n := 8
	if err == nil {
		n += len(d.points)
	}
	fields := make([]gateway.Field, 0, n)
	fields = append(fields, gateway.Bool("online", err == nil), gateway.Float("rtt_ms", float64(rtt)/float64(time.Millisecond)))
	if err != nil {
		dq = pointQ{gateway.QualityBad, failureReason(err)}
		fields = append(fields, gateway.String("error", errText))
	}
	fields = append(fields, gateway.String(gateway.FieldQuality, dq.q.String()), gateway.String(gateway.FieldReason, dq.reason))
	if err == nil {
		if bp := badPoints(d.points, d.q); bp != "" {
			fields = append(fields, gateway.String(gateway.FieldBadPoints, bp))
		}
		if d.qp.faultIx >= 0 {
			fields = append(fields, gateway.Bool(gateway.FieldFault, fault))
		}
		if d.qp.maintIx >= 0 {
			fields = append(fields, gateway.Bool(gateway.FieldMaintenance, maint))
		}
	}
	k := len(fields)
	dst = append(dst, gateway.Point{Measurement: gateway.MeasurementDeviceStatus, Tags: d.statusTags, Fields: fields[:k:k], Time: start})
	if err != nil {
		return dst
	}
	for i := range d.points {
		v := &d.vals[i]
		if d.q[i].q != gateway.QualityBad {
			fields = append(fields, d.points[i].field(v))
		}
	}
	if len(fields) > k {
		dst = append(dst, gateway.Point{Measurement: d.kind, Tags: d.tags, Fields: fields[k:], Time: start})
	}
	return dst
}
