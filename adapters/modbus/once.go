package modbus

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// PollResult is the outcome of one poll of one device by [Source.PollOnce].
type PollResult struct {
	Device, Kind, Label, Link string
	UnitID                    int
	// Err is nil if every request of the poll succeeded; Error is its
	// text as device_status.error has it ("class: message").
	Err   error
	Error string
	RTT   time.Duration // the poll's requests, connecting included
	// Values has one entry per configured point, in configuration order.
	Values []PolledValue
}

// PolledValue is one point of a [PollResult].
type PolledValue struct {
	Name, Unit string
	// Value is what the poll decoded: float64, bool or string; nil when
	// the poll failed. A NaN or infinite float is kept here (so that a
	// wrong type or order can be seen), with bad quality: the gateway
	// would not store it.
	Value   any
	Quality Quality
}

// PollOnce polls every device once, or only the device with id if id is
// not "", in configuration order, and returns what each poll read. It
// hands nothing to an Acceptor and leaves [Source.Devices] as it was. A
// device's poll failing is reported in its PollResult,
// not as an error; the error is for an unknown id, a cancelled ctx, or
// ErrRunning when Run is running (they would share the links'
// connections). Devices on a link whose connect failed get the same
// connect error without another attempt. Every connection it opened is
// closed when it returns.
func (s *Source) PollOnce(ctx context.Context, id string) ([]PollResult, error) {
	if !s.running.CompareAndSwap(false, true) {
		return nil, ErrRunning
	}
	defer s.running.Store(false)
	var out []PollResult
	found := false
	for _, l := range s.links {
		used := false
		for _, d := range l.devs {
			if id != "" && d.id != id {
				continue
			}
			found = true
			if err := ctx.Err(); err != nil {
				return out, fmt.Errorf("poll devices: %w", err)
			}
			used = true
			out = append(out, l.pollOnce(ctx, d))
		}
		if used {
			_ = l.conn.close()
		}
	}
	if !found {
		var ids []string
		for _, l := range s.links {
			for _, d := range l.devs {
				ids = append(ids, d.id)
			}
		}
		return nil, fmt.Errorf("poll device %q: no such device (configured: %s)", id, strings.Join(ids, ", "))
	}
	return out, nil
}

// pollOnce reads d as a scheduled poll does, without handing points on.
func (l *link) pollOnce(ctx context.Context, d *device) PollResult {
	start := l.now()
	err := l.ensureConn(start)
	if err == nil {
		err = l.readDevice(ctx, d)
	}
	r := PollResult{
		Device: d.id, Kind: d.kind, Label: d.label, Link: l.name, UnitID: int(d.unit),
		Err: err, RTT: l.now().Sub(start), Values: make([]PolledValue, len(d.points)),
	}
	if err != nil {
		r.Error = statusText(err)
	}
	for i := range d.points {
		p := &d.points[i]
		pv := PolledValue{Name: p.name, Unit: p.unit, Quality: QualityBad}
		if err == nil {
			v := &d.vals[i]
			pv.Value = p.valueOf(v)
			if !v.bad {
				pv.Quality = QualityGood
			}
		}
		r.Values[i] = pv
	}
	return r
}
