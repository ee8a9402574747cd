package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollector(t *testing.T) {
	sp := openSpool(t)
	p := NewPipeline(sp, PipelineOptions{}, nil)
	f := NewForwarder(sp, &fakeSink{}, p.Notify(), ForwarderOptions{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	if err := p.Accept(ctx, []Point{pt("a", 1), pt("a", 2)}); err != nil {
		t.Fatal(err)
	}
	c := NewCollector(p, sp, f)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", err, problems)
	}
	want := `
# HELP hazardgw_points_accepted_total Points committed to the spool.
# TYPE hazardgw_points_accepted_total counter
hazardgw_points_accepted_total 2
# HELP hazardgw_spool_points Points waiting in the spool.
# TYPE hazardgw_spool_points gauge
hazardgw_spool_points 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hazardgw_points_accepted_total", "hazardgw_spool_points"); err != nil {
		t.Fatal(err)
	}
}
