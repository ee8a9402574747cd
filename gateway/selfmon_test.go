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
