package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hazardgw/hazardgw/simulators/dutydesk"
)

// timeline writes what happens on the simulated site, one line each, in
// seconds since sitesim started: what the gateway tells the duty desk,
// the voice commands the checkpoints receive, what the scripted fire's
// cameras see. It is what `make demo` shows on its terminal.
//
//	09:41:07  +36s  desk   alert.firing   forest-fire CAM-01 smoke red: 东山瞭望塔1号摄像机 检测到烟雾…
//	09:41:12  +41s  KK-01  plays voice command level 4: 当前森林火险等级为四级（高），严禁携带火种进山
type timeline struct {
	mu    sync.Mutex
	w     io.Writer
	close func() error
	start time.Time
	now   func() time.Time
}

// openTimeline opens path for appending ("-" is standard output).
func openTimeline(path string, start time.Time) (*timeline, error) {
	t := &timeline{w: os.Stdout, close: func() error { return nil }, start: start, now: time.Now}
	if path != "-" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open timeline: %w", err)
		}
		t.w, t.close = f, f.Close
	}
	return t, nil
}

// note writes one line from source.
func (t *timeline) note(source, what string) {
	now := t.now()
	line := fmt.Sprintf("%s  +%3ds  %-6s %s\n", now.Format("15:04:05"), int(now.Sub(t.start)/time.Second), source,
		strings.ReplaceAll(what, "\n", " "))
	t.mu.Lock()
	defer t.mu.Unlock()
	_, _ = io.WriteString(t.w, line)
}

// deskLine is how the timeline writes a delivery.
func deskLine(d dutydesk.Delivery) string {
	a := d.Alert
	return fmt.Sprintf("%-19s %s %s %s %s: %s", d.Type, a.Rule, a.Device, a.Level, a.Severity, a.Message)
}

// deskTimeline writes each delivery the duty desk accepts to the timeline.
type deskTimeline struct {
	desk *dutydesk.Server
	tl   *timeline
}

func (d deskTimeline) Run(ctx context.Context) error {
	seen := 0
	for {
		var fresh []dutydesk.Delivery
		err := d.desk.Wait(ctx, func(ds []dutydesk.Delivery) bool {
			seen = min(seen, len(ds)) // the desk keeps a bounded number
			if len(ds) > seen {
				fresh = append(fresh[:0], ds[seen:]...)
				seen = len(ds)
				return true
			}
			return false
		})
		if err != nil {
			return nil // ctx ended
		}
		for _, x := range fresh {
			d.tl.note("desk", deskLine(x))
		}
	}
}

// closer closes the timeline file when the site stops.
type timelineCloser struct{ tl *timeline }

func (c timelineCloser) Run(ctx context.Context) error {
	<-ctx.Done()
	return c.tl.close()
}
