package gateway

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway/spool"
)

func TestSelfMonitorReportsDropsSinceLastReport(t *testing.T) {
	sp, err := spool.Open(filepath.Join(t.TempDir(), "s.db"), spool.Options{MaxBytes: 10 * (5 + 16), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	m := &SelfMonitor{Site: "s1", MaxBytes: 10 * (5 + 16), Spool: sp}
	var base reportBase
	base.take(m)
	sp.Append(spLines(13), time.Now()) // 3 dropped
	p, next := m.report(base, time.Now())
	if f, _ := p.Field(FieldSpoolDropped); f.F != 3 {
		t.Fatalf("spool_dropped = %v, want 3", f.F)
	}
	if f, _ := p.Field("spool_fill"); f.F != 1 {
		t.Fatalf("spool_fill = %v, want 1", f.F)
	}
	if dev, _ := p.Tag(TagDevice); p.Measurement != MeasurementGateway || dev != GatewayDevice || !p.Valid() {
		t.Fatalf("point %+v", p)
	}
	// Nothing dropped since: the next report says 0, which clears the alarm.
	p, _ = m.report(next, time.Now())
	if f, _ := p.Field(FieldSpoolDropped); f.F != 0 {
		t.Fatalf("second spool_dropped = %v, want 0", f.F)
	}
}

func TestSelfMonitorRun(t *testing.T) {
	sp := openSpool(t)
	var mu sync.Mutex
	var got []Point
	acc := AcceptFunc(func(_ context.Context, ps []Point) error {
		mu.Lock()
		got = append(got, ps...)
		mu.Unlock()
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- (&SelfMonitor{Site: "s", Interval: 10 * time.Millisecond, Spool: sp}).Run(ctx, acc) }()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 3 }, "three reports")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func spLines(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte("abcde")
	}
	return out
}

func TestSelfMonitorReportsOutages(t *testing.T) {
	sp := openSpool(t)
	sp.Append(spLines(3), time.Now())
	fwd := NewForwarder(sp, nil, nil, ForwarderOptions{}, nil)
	up := false
	t0 := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	m := &SelfMonitor{Site: "s", Spool: sp, Fwd: fwd, MQTTConnected: func() bool { return up }, Damaged: func() int { return 1 }, started: t0}
	field := func(p Point, k string) float64 {
		t.Helper()
		f, ok := p.Field(k)
		if !ok {
			t.Fatalf("no field %s in %+v", k, p.Fields)
		}
		return f.F
	}
	var base reportBase
	p, _ := m.report(base, t0.Add(40*time.Second))
	if got := field(p, FieldMQTTDown); got != 40 {
		t.Errorf("mqtt down %v s at the first report, want 40 (down since start)", got)
	}
	if got := field(p, FieldSinkStalled); got != 40 {
		t.Errorf("unwritten %v s, want 40 (points waiting, nothing written since start)", got)
	}
	if got := field(p, FieldStorageDamaged); got != 1 {
		t.Errorf("storage_damaged %v", got)
	}
	up = true
	p, _ = m.report(base, t0.Add(50*time.Second))
	if got := field(p, FieldMQTTDown); got != 0 {
		t.Errorf("mqtt down %v s while connected", got)
	}
	up = false
	m.report(base, t0.Add(60*time.Second))
	p, _ = m.report(base, t0.Add(90*time.Second))
	if got := field(p, FieldMQTTDown); got != 30 {
		t.Errorf("mqtt down %v s, want 30 since it was noticed", got)
	}
	m2 := &SelfMonitor{Site: "s", Spool: openSpool(t), Fwd: fwd, started: t0}
	p, _ = m2.report(base, t0.Add(time.Hour))
	if got := field(p, FieldSinkStalled); got != 0 {
		t.Errorf("unwritten %v s with an empty spool", got)
	}
	if _, ok := p.Field(FieldMQTTDown); ok {
		t.Error("mqtt_down_s reported without MQTT")
	}
}
