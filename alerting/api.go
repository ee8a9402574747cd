package alerting

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrUnknownAlert is returned by Ack for an id the engine does not know.
var ErrUnknownAlert = errors.New("unknown alert")

// ErrAckNeedsBy is returned by Ack when no one is named as acknowledging.
var ErrAckNeedsBy = errors.New("acknowledgement needs by: who acknowledges")

// ErrAckTooLong is returned by Ack when by or comment exceeds maxAckText.
var ErrAckTooLong = errors.New("acknowledgement: by and comment are limited to 1024 bytes")

// ErrByNotPrintable is returned by Ack and the other duty officer's
// actions when by holds a control or format character or is not valid
// UTF-8: the record must name someone readably.
var ErrByNotPrintable = errors.New("by must be a printable name: valid UTF-8 without control or format characters")

// validActor reports whether by is valid UTF-8 without control characters
// and without format characters (Unicode category Cf: a right-to-left
// override, zero-width spaces and joiners, a soft hyphen… which make a
// name in the record look like someone else's, or two names look the
// same), and comment is valid UTF-8 (it may hold line breaks).
func validActor(by, comment string) bool {
	return utf8.ValidString(by) && !strings.ContainsFunc(by, unprintable) && utf8.ValidString(comment)
}

func unprintable(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }

// maxAckText bounds `by` and `comment` of an acknowledgement, in bytes.
const maxAckText = 1024

// Routes returns the alert API as method-and-path patterns for
// http.ServeMux. They are under /api/, so httpapi puts the bearer-token
// check in front of them.
//
//	GET    /api/v1/alerts?state=active|all       JSON list, newest first (default active);
//	                                              &limit=N: only the N newest
//	POST   /api/v1/alerts/{id}/ack                {"by":"...","comment":"..."}; idempotent
//	POST   /api/v1/alerts/{id}/shelve             {"by":"...","reason":"...","for":"2h"}
//	POST   /api/v1/alerts/{id}/unshelve           {"by":"..."}
//	POST   /api/v1/alerts/{id}/reset              {"by":"...","comment":"..."}
//	POST   /api/v1/devices/{id}/out-of-service    {"by":"...","reason":"...","until":"RFC 3339"}
//	DELETE /api/v1/devices/{id}/out-of-service    {"by":"..."} (or ?by=...)
//	GET    /api/v1/out-of-service                 the devices out of service: who, since, until, why
//	DELETE /api/v1/devices/{id}                   {"by":"...","reason":"..."}: decommission a device learnt from traffic
func (e *Engine) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /api/v1/alerts":                         http.HandlerFunc(e.handleList),
		"POST /api/v1/alerts/{id}/ack":               http.HandlerFunc(e.handleAck),
		"POST /api/v1/alerts/{id}/shelve":            http.HandlerFunc(e.handleShelve),
		"POST /api/v1/alerts/{id}/unshelve":          http.HandlerFunc(e.handleUnshelve),
		"POST /api/v1/alerts/{id}/reset":             http.HandlerFunc(e.handleReset),
		"POST /api/v1/devices/{id}/out-of-service":   http.HandlerFunc(e.handleOutOfService),
		"DELETE /api/v1/devices/{id}/out-of-service": http.HandlerFunc(e.handleBackInService),
		"GET /api/v1/out-of-service":                 http.HandlerFunc(e.handleOutOfServiceList),
		"DELETE /api/v1/devices/{id}":                http.HandlerFunc(e.handleDecommission),
	}
}

// Alerts lists alerts, newest first: the open ones (active, or cleared but
// not acknowledged), or with all also the most recent ended ones.
func (e *Engine) Alerts(all bool) ([]Alert, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st == nil {
		return nil, errStoreClosed
	}
	out := make([]Alert, 0, len(e.alerts))
	for _, a := range e.alerts {
		if all || a.State.Open() {
			out = append(out, e.display(a))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].StartedAt.Equal(out[j].StartedAt) {
			return out[i].StartedAt.After(out[j].StartedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Ack acknowledges occurrence id on behalf of the duty officer by (required:
// ErrAckNeedsBy when empty). Only that occurrence changes, never a later
// one of the same condition. It is idempotent: acknowledging an
// acknowledged or ended alert returns it unchanged and notifies no one. The
// first acknowledgement is committed, logged with who, when and the comment,
// written as an `alert` point with fields by and comment, and sends
// alert.acknowledged to every receiver; reminders stop.
func (e *Engine) Ack(id, by, comment string) (Alert, error) {
	by = strings.TrimSpace(by)
	if by == "" {
		return Alert{}, ErrAckNeedsBy
	}
	if len(by) > maxAckText || len(comment) > maxAckText {
		return Alert{}, ErrAckTooLong
	}
	if !validActor(by, comment) {
		return Alert{}, ErrByNotPrintable
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	a, err := e.lookupAlert(id)
	if err != nil {
		return Alert{}, err
	}
	now := e.opts.Now()
	next, changed := acknowledge(a.Alert, by, comment, now)
	if !changed {
		return e.display(a), nil
	}
	a.Alert = next
	e.emit(e.byName[a.Rule], a, TypeAcknowledged, now, e.levelIndex(a), nil)
	return e.commitAction(a, "acknowledgement")
}

type ackRequest struct {
	By      string `json:"by"`
	Comment string `json:"comment"`
}

func (e *Engine) handleList(w http.ResponseWriter, r *http.Request) {
	var all bool
	switch r.URL.Query().Get("state") {
	case "", "active":
	case "all":
		all = true
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "state must be active or all"})
		return
	}
	limit := -1 // every one
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be a positive number"})
			return
		}
		limit = n
	}
	list, err := e.Alerts(all)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	if limit >= 0 && len(list) > limit {
		list = list[:limit] // the newest
	}
	writeJSON(w, http.StatusOK, list)
}

// maxAckBody bounds the body of an acknowledgement: by and comment at
// their limits, JSON-escaped, fit many times over.
const maxAckBody = 64 << 10

func (e *Engine) handleAck(w http.ResponseWriter, r *http.Request) {
	var req ackRequest
	if !decodeBody(w, r, &req, `{"by":"...","comment":"..."}`) {
		return
	}
	if strings.TrimSpace(req.By) == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "by is required: the name of who acknowledges"})
		return
	}
	a, err := e.Ack(r.PathValue("id"), req.By, req.Comment)
	writeResult(w, a, err)
}

// decodeBody decodes a request body of one JSON object into v, answering
// 400 or 413 itself (and returning false) when it cannot. form shows the
// expected body in the error.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, form string) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAckBody))
	if err == nil && !utf8.Valid(b) {
		// JSON is UTF-8; decoding would turn the bytes into U+FFFD and
		// record an acknowledgement by "���".
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be UTF-8 JSON " + form})
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err == nil {
		err = dec.Decode(v)
	}
	if err == nil {
		// One object and nothing after it: `{"by":"x"} {"by":"y"}` or
		// `{"by":"x"}}` is a broken client, not an acknowledgement.
		var extra json.RawMessage
		if dec.Decode(&extra) != io.EOF {
			err = errors.New("trailing data")
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body larger than 64 KiB"})
		return false
	case err != nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be one JSON object " + form})
		return false
	}
	return true
}

// writeResult answers an API call with v, or with the status its error calls for.
func writeResult(w http.ResponseWriter, v any, err error) {
	switch {
	case errors.Is(err, ErrUnknownAlert):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such alert"})
	case errors.Is(err, ErrUnknownDevice):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such device"})
	case errors.Is(err, ErrAckNeedsBy), errors.Is(err, ErrNeedsBy), errors.Is(err, ErrAckTooLong), errors.Is(err, ErrByNotPrintable),
		errors.Is(err, ErrShelveDuration), errors.Is(err, ErrOutOfServiceUntil), errors.Is(err, ErrGatewayDevice):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	case errors.Is(err, ErrAlertEnded), errors.Is(err, ErrNotLatched):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	case errors.Is(err, errStoreClosed):
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing to do
}
