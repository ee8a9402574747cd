package alerting

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// actionRequest is the body of the alarm management actions. Reason and
// comment are the same thing (a console may send either); For is a Go
// duration ("2h", "30m"); Until is an RFC 3339 time.
type actionRequest struct {
	By      string `json:"by"`
	Reason  string `json:"reason"`
	Comment string `json:"comment"`
	For     string `json:"for"`
	Until   string `json:"until"`
}

func (q *actionRequest) text() string { return firstNonEmpty(q.Reason, q.Comment) }

// decodeAction decodes an action's body; an empty body is an empty
// request (then `by` may come as a query parameter, for DELETE).
func decodeAction(w http.ResponseWriter, r *http.Request, form string) (actionRequest, bool) {
	var req actionRequest
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAckBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body larger than 64 KiB"})
		return req, false
	case err != nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "read body: " + err.Error()})
		return req, false
	}
	if len(bytes.TrimSpace(b)) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(b))
		if !decodeBody(w, r, &req, form) {
			return req, false
		}
	}
	if req.By == "" {
		req.By = r.URL.Query().Get("by")
	}
	if strings.TrimSpace(req.By) == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": ErrNeedsBy.Error()})
		return req, false
	}
	return req, true
}

func (e *Engine) handleShelve(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeAction(w, r, `{"by":"...","reason":"...","for":"2h"}`)
	if !ok {
		return
	}
	d := e.maxShelv
	if req.For != "" {
		var err error
		if d, err = time.ParseDuration(req.For); err != nil || d <= 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("for %q: want a positive duration such as 30m or 2h", req.For)})
			return
		}
	}
	if d > e.maxShelv {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("for %s is longer than alerting.max_shelve (%s)", d, e.maxShelv)})
		return
	}
	a, err := e.Shelve(r.PathValue("id"), req.By, req.text(), d)
	writeResult(w, a, err)
}

func (e *Engine) handleUnshelve(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeAction(w, r, `{"by":"..."}`)
	if !ok {
		return
	}
	a, err := e.Unshelve(r.PathValue("id"), req.By)
	writeResult(w, a, err)
}

func (e *Engine) handleReset(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeAction(w, r, `{"by":"...","comment":"..."}`)
	if !ok {
		return
	}
	a, err := e.Reset(r.PathValue("id"), req.By, req.text())
	writeResult(w, a, err)
}

func (e *Engine) handleOutOfService(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeAction(w, r, `{"by":"...","reason":"...","until":"2026-11-22T18:00:00+08:00"}`)
	if !ok {
		return
	}
	var until time.Time
	if req.Until == "" {
		until = e.opts.Now().Add(e.maxShelv)
	} else {
		var err error
		if until, err = time.Parse(time.RFC3339, req.Until); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("until %q: want an RFC 3339 time such as 2026-11-22T18:00:00+08:00", req.Until)})
			return
		}
	}
	s, err := e.SetOutOfService(r.PathValue("id"), req.By, req.text(), until)
	writeResult(w, s, err)
}

func (e *Engine) handleBackInService(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeAction(w, r, `{"by":"..."}`)
	if !ok {
		return
	}
	s, err := e.BackInService(r.PathValue("id"), req.By)
	writeResult(w, s, err)
}

// OutOfServiceDevices lists the devices out of service, the soonest back
// first (then by id): who took each out, since when, until when and why.
func (e *Engine) OutOfServiceDevices() ([]DeviceService, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st == nil {
		return nil, errStoreClosed
	}
	out := make([]DeviceService, 0, len(e.oosDevs))
	for _, d := range e.oosDevs {
		s := serviceOf(d)
		s.Label = e.meta[d.id].Label
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b DeviceService) int {
		if c := a.Until.Compare(*b.Until); c != 0 {
			return c
		}
		return strings.Compare(a.Device, b.Device)
	})
	return out, nil
}

func (e *Engine) handleOutOfServiceList(w http.ResponseWriter, _ *http.Request) {
	list, err := e.OutOfServiceDevices()
	writeResult(w, list, err)
}
