package alerting_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	dutydeskgw "github.com/hazardgw/hazardgw/adapters/dutydesk"
	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/dutydesk"
)

// TestDeskRefusingOneNotificationHoldsBackNoOther: a desk answers 500,
// for ever, to every notification about GD-102; a red alarm of GD-101
// raised after it is still delivered, through the real webhook notifier
// and the duty desk simulator, while GD-102's keeps being retried.
func TestDeskRefusingOneNotificationHoldsBackNoOther(t *testing.T) {
	for _, c := range []struct {
		name string
		opts alerting.Options
	}{
		{"defaults", alerting.Options{}},
		{"one send at a time", alerting.Options{Concurrency: 1, AttemptTimeout: time.Second}},
	} {
		t.Run(c.name, func(t *testing.T) {
			desk, err := dutydesk.New(dutydesk.Options{Secret: secret})
			if err != nil {
				t.Fatal(err)
			}
			var refused atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if bytes.Contains(body, []byte(`"device":"GD-102"`)) {
					refused.Add(1)
					http.Error(w, "internal error", http.StatusInternalServerError)
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
				desk.Handler().ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			nc := alerting.NotifyConfig{Name: "duty-desk", URL: srv.URL + "/api/alerts", Secret: secret, Timeout: 2 * time.Second}
			n, err := dutydeskgw.New(nc, dutydeskgw.Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}, nil)
			if err != nil {
				t.Fatal(err)
			}
			opts := c.opts
			opts.Site, opts.Path = "qz", filepath.Join(t.TempDir(), "alerts.db")
			opts.Notifiers = map[string]alerting.Notifier{"duty-desk": n}
			e, err := alerting.New(alerting.Config{Rules: rules, Notify: []alerting.NotifyConfig{nc}}, opts)
			if err != nil {
				t.Fatal(err)
			}
			testenv.Go(t, func(ctx context.Context) error { return e.Run(ctx, nil) })

			e.Observe([]gateway.Point{gas("GD-102", 30)})
			testenv.Eventually(t, 10*time.Second, func() bool { return refused.Load() > 0 }, "GD-102 tried")
			e.Observe([]gateway.Point{gas("GD-101", 80)})
			wctx, cancelWait := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancelWait()
			err = desk.Wait(wctx, func(ds []dutydesk.Delivery) bool { return len(ds) >= 1 })
			if err != nil {
				t.Fatalf("the red alarm was not delivered: %v (GD-102 refused %d times)", err, refused.Load())
			}
			got := summary(desk.Deliveries())
			if fmt.Sprint(got) != "[GD-101 alert.firing high-high red]" {
				t.Fatalf("delivered %q", got)
			}
			if refused.Load() == 0 {
				t.Fatal("GD-102 was never tried")
			}
		})
	}
}
