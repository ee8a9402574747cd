package dutydesk

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/hazardgw/hazardgw/gateway"
)

// TestNotifyRedirectIsNotDelivery: a receiver that redirects (an
// http→https proxy, a login page) has not taken the notification; the
// redirect is its final answer, never followed, so the 200 of the page it
// leads to cannot pass for delivery.
func TestNotifyRedirectIsNotDelivery(t *testing.T) {
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			var followed atomic.Int32
			mux := http.NewServeMux()
			mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) { followed.Add(1) })
			mux.HandleFunc("/api/alerts", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/login", code) })
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			err := newNotifier(t, srv.URL+"/api/alerts", nil, nil).Notify(context.Background(), msg)
			var se *StatusError
			if !gateway.IsPermanent(err) || !errors.As(err, &se) || se.Code != code {
				t.Fatalf("err %v, want a permanent StatusError %d", err, code)
			}
			if n := followed.Load(); n != 0 {
				t.Errorf("the redirect was followed %d times", n)
			}
		})
	}
}
