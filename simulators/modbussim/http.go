package modbussim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// maxBodyBytes bounds control API request bodies.
const maxBodyBytes = 1 << 20

// Handler returns the JSON control API (see README.md):
//
//	GET    /api/profiles
//	GET    /api/units
//	GET    /api/units/{unit}
//	PUT    /api/units/{unit}/points/{name}   {"value": 57.3}
//	DELETE /api/units/{unit}/points/{name}
//	GET    /api/units/{unit}/registers?area=holding&address=0&count=4
//	PUT    /api/units/{unit}/registers       {"area":"holding","address":0,"words":[1,2]}
//	GET    /api/units/{unit}/fault
//	PUT    /api/units/{unit}/fault           {"mode":"slow","delay":"2s","code":4}
//	GET    /api/served?unit=N&since=SEQ|RFC3339&limit=N
//
// Bad requests get 400 and unknown units or points 404, each with a JSON
// body {"error": "..."}. The handler is safe for concurrent use.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/profiles", s.getProfiles)
	mux.HandleFunc("GET /api/units", s.getUnits)
	mux.HandleFunc("GET /api/units/{unit}", s.withUnit(s.getUnit))
	mux.HandleFunc("PUT /api/units/{unit}/points/{name}", s.withUnit(s.putPoint))
	mux.HandleFunc("DELETE /api/units/{unit}/points/{name}", s.withUnit(s.deletePoint))
	mux.HandleFunc("GET /api/units/{unit}/registers", s.withUnit(s.getRegisters))
	mux.HandleFunc("PUT /api/units/{unit}/registers", s.withUnit(s.putRegisters))
	mux.HandleFunc("GET /api/units/{unit}/fault", s.withUnit(s.getFault))
	mux.HandleFunc("PUT /api/units/{unit}/fault", s.withUnit(s.putFault))
	mux.HandleFunc("GET /api/served", s.getServed)
	return mux
}

// apiError is an error with its HTTP status.
type apiError struct {
	status int
	err    error
}

func (e *apiError) Error() string { return e.err.Error() }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, fmt.Errorf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &apiError{http.StatusNotFound, fmt.Errorf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do about it
}

func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var ae *apiError
	if errors.As(err, &ae) {
		status = ae.status
	}
	if errors.Is(err, ErrNoPoint) {
		status = http.StatusNotFound
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// withUnit resolves {unit} to an existing unit.
func (s *Server) withUnit(h func(*Unit, *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseUint(r.PathValue("unit"), 10, 8)
		if err != nil {
			writeError(w, badRequest("unit %q: want 0..255", r.PathValue("unit")))
			return
		}
		u, ok := s.LookupUnit(uint8(id))
		if !ok {
			writeError(w, notFound("unit %d does not exist", id))
			return
		}
		v, err := h(u, r)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// decodeBody decodes a JSON body strictly into v.
func decodeBody(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return badRequest("read body: %v", err)
	}
	if len(data) > maxBodyBytes {
		return badRequest("read body: larger than %d bytes", maxBodyBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("decode body: %v", err)
	}
	if dec.More() {
		return badRequest("decode body: trailing data after the JSON value")
	}
	return nil
}

type faultJSON struct {
	Mode  FaultMode `json:"mode"`
	Delay string    `json:"delay,omitempty"`
	Code  int       `json:"code,omitempty"`
}

func faultToJSON(f Fault) faultJSON {
	j := faultJSON{Mode: f.Mode, Code: int(f.Code)}
	if f.Delay > 0 {
		j.Delay = f.Delay.String()
	}
	return j
}

type pointJSON struct {
	Point
	Value      any  `json:"value"` // float64, or bool for bool points
	Overridden bool `json:"overridden"`
}

type unitJSON struct {
	Unit       uint8       `json:"unit"`
	Profile    string      `json:"profile,omitempty"`
	Label      string      `json:"label,omitempty"`
	Transports string      `json:"transports"` // tcp, rtu or all
	Fault      faultJSON   `json:"fault"`
	Points     []pointJSON `json:"points"`
}

func unitToJSON(u *Unit) unitJSON {
	name, label := u.Profile()
	j := unitJSON{
		Unit:       u.id,
		Profile:    name,
		Label:      label,
		Transports: transports(u.on.Load()).String(),
		Fault:      faultToJSON(u.Fault()),
		Points:     []pointJSON{},
	}
	for _, ps := range u.pointStates() {
		var v any = ps.Value
		if ps.Type == "bool" {
			v = ps.Value != 0
		}
		j.Points = append(j.Points, pointJSON{Point: ps.Point, Value: v, Overridden: ps.Overridden})
	}
	return j
}

func (s *Server) getProfiles(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, Profiles())
}

func (s *Server) getUnits(w http.ResponseWriter, _ *http.Request) {
	out := []unitJSON{}
	for _, u := range s.Units() {
		out = append(out, unitToJSON(u))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getUnit(u *Unit, _ *http.Request) (any, error) { return unitToJSON(u), nil }

func (s *Server) putPoint(u *Unit, r *http.Request) (any, error) {
	var body struct {
		Value json.RawMessage `json:"value"`
	}
	if err := decodeBody(r, &body); err != nil {
		return nil, err
	}
	v, err := parsePointValue(body.Value)
	if err != nil {
		return nil, err
	}
	if err := u.Override(r.PathValue("name"), v); err != nil {
		if errors.Is(err, ErrNoPoint) {
			return nil, err
		}
		return nil, badRequest("%v", err)
	}
	return unitToJSON(u), nil
}

// parsePointValue accepts a JSON number, or true/false for bool points.
func parsePointValue(raw json.RawMessage) (float64, error) {
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		return 1, nil
	case "false":
		return 0, nil
	}
	var f *float64
	if err := json.Unmarshal(raw, &f); err != nil || f == nil {
		return 0, badRequest("value: want a number or a bool")
	}
	return *f, nil
}

func (s *Server) deletePoint(u *Unit, r *http.Request) (any, error) {
	if err := u.ClearOverride(r.PathValue("name")); err != nil {
		return nil, err
	}
	return unitToJSON(u), nil
}

type registersJSON struct {
	Area    Area     `json:"area"`
	Address int      `json:"address"`
	Words   []uint16 `json:"words,omitempty"`
	Bits    []bool   `json:"bits,omitempty"`
}

func (s *Server) getRegisters(u *Unit, r *http.Request) (any, error) {
	q := r.URL.Query()
	area, err := ParseArea(q.Get("area"))
	if err != nil {
		return nil, badRequest("area: %v", err)
	}
	addr, err := strconv.ParseUint(q.Get("address"), 10, 16)
	if err != nil {
		return nil, badRequest("address: want 0..65535")
	}
	count := uint64(1)
	if c := q.Get("count"); c != "" {
		if count, err = strconv.ParseUint(c, 10, 16); err != nil || count < 1 || count > 2000 {
			return nil, badRequest("count: want 1..2000")
		}
	}
	out := registersJSON{Area: area, Address: int(addr)}
	if area.IsRegister() {
		out.Words, err = u.Registers(area, uint16(addr), int(count))
	} else {
		out.Bits, err = u.Bits(area, uint16(addr), int(count))
	}
	if err != nil {
		return nil, badRequest("%v", err)
	}
	return out, nil
}

func (s *Server) putRegisters(u *Unit, r *http.Request) (any, error) {
	var body registersJSON
	if err := decodeBody(r, &body); err != nil {
		return nil, err
	}
	if body.Address < 0 || body.Address > 0xFFFF {
		return nil, badRequest("address: want 0..65535")
	}
	var err error
	switch {
	case body.Area.IsRegister() && len(body.Words) > 0 && body.Bits == nil:
		err = u.SetRegisters(body.Area, uint16(body.Address), body.Words...)
	case body.Area.IsBit() && len(body.Bits) > 0 && body.Words == nil:
		err = u.SetBits(body.Area, uint16(body.Address), body.Bits...)
	default:
		return nil, badRequest("want area holding or input with words, or coil or discrete with bits")
	}
	if err != nil {
		return nil, badRequest("%v", err)
	}
	return body, nil
}

func (s *Server) getFault(u *Unit, _ *http.Request) (any, error) { return faultToJSON(u.Fault()), nil }

func (s *Server) putFault(u *Unit, r *http.Request) (any, error) {
	var body faultJSON
	if err := decodeBody(r, &body); err != nil {
		return nil, err
	}
	f := Fault{Mode: body.Mode}
	if body.Delay != "" {
		d, err := time.ParseDuration(body.Delay)
		if err != nil {
			return nil, badRequest("delay: %v", err)
		}
		f.Delay = d
	}
	if body.Code < 0 || body.Code > 0x7F {
		return nil, badRequest("code: want 0..127")
	}
	f.Code = byte(body.Code)
	if err := u.SetFault(f); err != nil {
		return nil, badRequest("%v", err)
	}
	s.log.Info("fault set over http", "unit", u.id, "mode", u.Fault().Mode)
	return faultToJSON(u.Fault()), nil
}

func (s *Server) getServed(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	keep := func(Served) bool { return true }
	if v := q.Get("unit"); v != "" {
		id, err := strconv.ParseUint(v, 10, 8)
		if err != nil {
			writeError(w, badRequest("unit: want 0..255"))
			return
		}
		keep = func(e Served) bool { return e.Unit == uint8(id) }
	}
	since, err := parseSince(q.Get("since"))
	if err != nil {
		writeError(w, err)
		return
	}
	limit := 0
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
			writeError(w, badRequest("limit: want a positive integer"))
			return
		}
	}
	out := []Served{}
	for _, e := range s.ServedLog() {
		if keep(e) && since(e) {
			out = append(out, e)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:] // the most recent
	}
	writeJSON(w, http.StatusOK, out)
}

// parseSince accepts a sequence number (entries after it) or an RFC 3339
// time (entries after it).
func parseSince(v string) (func(Served) bool, error) {
	if v == "" {
		return func(Served) bool { return true }, nil
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		return func(e Served) bool { return e.Seq > n }, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, badRequest("since: want a sequence number or an RFC 3339 time")
	}
	return func(e Served) bool { return e.Time.After(t) }, nil
}
