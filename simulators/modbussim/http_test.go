package modbussim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func startAPI(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	s := newTestServer(t)
	mustNoErr(t, s.LoadScenario(strings.NewReader(string(DefaultScenario()))))
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

func do(t *testing.T, ts *httptest.Server, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	mustNoErr(t, err)
	resp, err := ts.Client().Do(req)
	mustNoErr(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	mustNoErr(t, err)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusMethodNotAllowed && ct != "application/json" {
		t.Errorf("%s %s: content type %q", method, path, ct)
	}
	return resp.StatusCode, b
}

func TestAPIUnits(t *testing.T) {
	_, ts := startAPI(t)
	code, body := do(t, ts, "GET", "/api/units", "")
	var units []unitJSON
	if code != 200 || json.Unmarshal(body, &units) != nil || len(units) != 6 {
		t.Fatalf("GET /api/units: %d %s", code, body)
	}
	u := units[0]
	if u.Unit != 1 || u.Profile != "gas_detector" || u.Transports != "tcp" || u.Fault.Mode != None || len(u.Points) != 8 {
		t.Fatalf("unit 1: %+v", u)
	}
	if u.Points[0].Name != "ch4" || u.Points[0].Unit != "%LEL" {
		t.Fatalf("first point %+v", u.Points[0])
	}
	if _, ok := u.Points[3].Value.(bool); !ok {
		t.Fatalf("alarm value %#v, want a bool", u.Points[3].Value)
	}
}

func TestAPIPointOverride(t *testing.T) {
	s, ts := startAPI(t)
	code, body := do(t, ts, "PUT", "/api/units/1/points/ch4", `{"value": 57.3}`)
	if code != 200 {
		t.Fatalf("PUT point: %d %s", code, body)
	}
	regs, _ := s.Unit(1).Registers(Holding, 0, 2)
	if !slices.Equal(regs, []uint16{0x4265, 0x3333}) {
		t.Fatalf("ch4 registers %04X", regs)
	}
	var u unitJSON
	mustNoErr(t, json.Unmarshal(body, &u))
	if !u.Points[0].Overridden || u.Points[0].Value.(float64) < 57.29 {
		t.Fatalf("after PUT: %+v", u.Points[0])
	}
	if code, body := do(t, ts, "PUT", "/api/units/1/points/alarm", `{"value": true}`); code != 200 {
		t.Fatalf("PUT bool point: %d %s", code, body)
	}
	if v := s.UnitValues(1)["alarm"]; v != 1 {
		t.Fatalf("alarm %v", v)
	}
	if code, body := do(t, ts, "DELETE", "/api/units/1/points/ch4", ""); code != 200 {
		t.Fatalf("DELETE point: %d %s", code, body)
	}
	s.mu.Lock()
	sc := s.scen
	s.mu.Unlock()
	s.step(sc, 0, map[uint8]Fault{}, nil)
	if v := s.UnitValues(1)["ch4"]; v > 4 {
		t.Fatalf("ch4 %v still pinned after DELETE", v)
	}
}

func TestAPIRegistersAndFault(t *testing.T) {
	s, ts := startAPI(t)
	if code, body := do(t, ts, "PUT", "/api/units/4/registers", `{"area":"holding","address":100,"words":[1,2,65535]}`); code != 200 {
		t.Fatalf("PUT registers: %d %s", code, body)
	}
	if regs, _ := s.Unit(4).Registers(Holding, 100, 3); !slices.Equal(regs, []uint16{1, 2, 65535}) {
		t.Fatalf("registers %v", regs)
	}
	if code, body := do(t, ts, "PUT", "/api/units/4/registers", `{"area":"coil","address":7,"bits":[true,true]}`); code != 200 {
		t.Fatalf("PUT bits: %d %s", code, body)
	}
	code, body := do(t, ts, "GET", "/api/units/4/registers?area=coil&address=6&count=3", "")
	if code != 200 || !strings.Contains(string(body), `"bits":[false,true,true]`) {
		t.Fatalf("GET bits: %d %s", code, body)
	}
	code, body = do(t, ts, "PUT", "/api/units/3/fault", `{"mode":"slow","delay":"2s"}`)
	if code != 200 || s.Unit(3).Fault() != (Fault{Mode: Slow, Delay: 2 * time.Second}) {
		t.Fatalf("PUT fault: %d %s, fault %+v", code, body, s.Unit(3).Fault())
	}
	do(t, ts, "PUT", "/api/units/3/fault", `{"mode":"exception","code":11}`)
	if f := s.Unit(3).Fault(); f != (Fault{Mode: Exception, Code: 0x0B}) {
		t.Fatalf("fault %+v", f)
	}
	code, body = do(t, ts, "GET", "/api/units/3/fault", "")
	if code != 200 || !strings.Contains(string(body), `"mode":"exception"`) {
		t.Fatalf("GET fault: %d %s", code, body)
	}
	do(t, ts, "PUT", "/api/units/3/fault", `{"mode":"none"}`)
	if f := s.Unit(3).Fault(); f.Mode != None {
		t.Fatalf("fault %+v", f)
	}
}

func TestAPIServed(t *testing.T) {
	s, ts := startAPI(t)
	addr, err := s.ListenTCP("127.0.0.1:0")
	mustNoErr(t, err)
	c := dialTCP(t, addr)
	c.call(t, 1, readReq(fcReadHolding, 0, 2))
	c.call(t, 2, readReq(fcReadInput, 0, 1))
	c.call(t, 1, readReq(fcReadCoils, 0, 1))
	var got []Served
	code, body := do(t, ts, "GET", "/api/served?unit=1&since=1", "")
	if code != 200 || json.Unmarshal(body, &got) != nil || len(got) != 1 || got[0].Function != 1 || got[0].Area != Coil {
		t.Fatalf("GET served: %d %s", code, body)
	}
	code, body = do(t, ts, "GET", "/api/served?limit=2", "")
	if code != 200 || json.Unmarshal(body, &got) != nil || len(got) != 2 || got[0].Unit != 2 {
		t.Fatalf("GET served limit: %d %s", code, body)
	}
	code, body = do(t, ts, "GET", "/api/served?since="+time.Now().Add(time.Hour).Format(time.RFC3339), "")
	if code != 200 || strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("GET served since the future: %d %s", code, body)
	}
}

func TestAPIBadRequests(t *testing.T) {
	_, ts := startAPI(t)
	tests := []struct {
		method, path, body string
		code               int
	}{
		{"GET", "/api/units/300", "", 400},
		{"GET", "/api/units/x", "", 400},
		{"GET", "/api/units/99", "", 404},
		{"PUT", "/api/units/99/fault", `{"mode":"drop"}`, 404},
		{"PUT", "/api/units/1/points/benzene", `{"value": 1}`, 404},
		{"DELETE", "/api/units/1/points/benzene", "", 404},
		{"PUT", "/api/units/1/points/ch4", `{"value": "high"}`, 400},
		{"PUT", "/api/units/1/points/ch4", `{"value": null}`, 400},
		{"PUT", "/api/units/1/points/ch4", `{}`, 400},
		{"PUT", "/api/units/1/points/h2s", `{"value": -1}`, 400},
		{"PUT", "/api/units/1/points/ch4", `{"value": 1, "extra": 2}`, 400},
		{"PUT", "/api/units/1/points/ch4", `{"value": 1} {}`, 400},
		{"PUT", "/api/units/1/points/ch4", `not json`, 400},
		{"PUT", "/api/units/1/registers", `{"area":"holding","address":0}`, 400},
		{"PUT", "/api/units/1/registers", `{"area":"attic","address":0,"words":[1]}`, 400},
		{"PUT", "/api/units/1/registers", `{"area":"coil","address":0,"words":[1]}`, 400},
		{"PUT", "/api/units/1/registers", `{"area":"holding","address":65535,"words":[1,2]}`, 400},
		{"PUT", "/api/units/1/registers", `{"area":"holding","address":-1,"words":[1]}`, 400},
		{"PUT", "/api/units/1/registers", `{"area":"holding","address":0,"words":[70000]}`, 400},
		{"GET", "/api/units/1/registers?area=holding&address=0&count=0", "", 400},
		{"GET", "/api/units/1/registers?area=holding", "", 400},
		{"PUT", "/api/units/1/fault", `{"mode":"melt"}`, 400},
		{"PUT", "/api/units/1/fault", `{"mode":"slow","delay":"soon"}`, 400},
		{"PUT", "/api/units/1/fault", `{"mode":"slow","delay":"-1s"}`, 400},
		{"PUT", "/api/units/1/fault", `{"mode":"exception","code":300}`, 400},
		{"GET", "/api/served?unit=x", "", 400},
		{"GET", "/api/served?since=yesterday", "", 400},
		{"GET", "/api/served?limit=0", "", 400},
		{"PUT", "/api/units/1/points/ch4", `{"value": 1` + strings.Repeat(" ", maxBodyBytes) + `}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+trim(tt.body), func(t *testing.T) {
			code, body := do(t, ts, tt.method, tt.path, tt.body)
			var e struct{ Error string }
			if code != tt.code || json.Unmarshal(body, &e) != nil || e.Error == "" {
				t.Fatalf("%d %s, want %d with a JSON error", code, body, tt.code)
			}
		})
	}
	if code, _ := do(t, ts, "POST", "/api/units", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/units: %d", code)
	}
}

func trim(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}
