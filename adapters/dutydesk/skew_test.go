package dutydesk

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
)

// skewedDesk refuses (401) signatures whose timestamp is more than five
// minutes off its clock, which is ahead of the gateway's by ahead (zero:
// the same), and tells its clock in the Date header of every answer.
func skewedDesk(t *testing.T, ahead time.Duration) (*httptest.Server, *atomic.Int32) {
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		now := time.Now().Add(ahead)
		w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
		ts, err := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		if err != nil || now.Sub(time.Unix(ts, 0)).Abs() > 5*time.Minute {
			http.Error(w, "webhook-timestamp outside tolerance", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, &attempts
}

// TestNotifySignsWithTheDesksClock: a gateway whose clock is an hour off
// (behind or ahead) is refused once, learns the desk's clock from the
// Date header, and delivers signed with it; later notifications go at the
// first attempt. A refusal from a desk whose clock agrees with ours is
// final at once.
func TestNotifySignsWithTheDesksClock(t *testing.T) {
	for _, ahead := range []time.Duration{time.Hour, -time.Hour} {
		t.Run(ahead.String(), func(t *testing.T) {
			srv, attempts := skewedDesk(t, ahead)
			n := newNotifier(t, srv.URL, nil, nil)
			if err := n.Notify(context.Background(), msg); err != nil {
				t.Fatalf("first notification: %v", err)
			}
			if got := attempts.Load(); got != 2 {
				t.Errorf("%d attempts, want 2 (refused, then signed with the desk's time)", got)
			}
			if err := n.Notify(context.Background(), msg); err != nil {
				t.Fatalf("second notification: %v", err)
			}
			if got := attempts.Load(); got != 3 {
				t.Errorf("%d attempts in all, want 3 (the second at once)", got)
			}
		})
	}
	t.Run("clocks agree", func(t *testing.T) {
		var attempts atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			attempts.Add(1)
			http.Error(w, "no valid signature", http.StatusUnauthorized)
		}))
		t.Cleanup(srv.Close)
		err := newNotifier(t, srv.URL, nil, nil).Notify(context.Background(), msg)
		if !gateway.IsPermanent(err) || attempts.Load() != 1 {
			t.Errorf("err %v after %d attempts; want a permanent refusal after 1", err, attempts.Load())
		}
	})
}
