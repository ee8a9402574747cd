package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goburrow/modbus"
	"github.com/goburrow/serial"

	"github.com/hazardgw/hazardgw/gateway"
)

// fakeConn is a hand-written conn for the link's decisions.
type fakeConn struct {
	connectErr       error
	readFn           func(unit byte, a area, start, count uint16) ([]byte, error)
	connects, closes int
	reads            []string
	advance          time.Duration // added to the clock by every read
	clock            *time.Time
}

func (f *fakeConn) connect() error { f.connects++; return f.connectErr }
func (f *fakeConn) close() error   { f.closes++; return nil }
func (f *fakeConn) read(unit byte, a area, start, count uint16) ([]byte, error) {
	f.reads = append(f.reads, fmt.Sprintf("%d:%s %d+%d", unit, a, start, count))
	*f.clock = f.clock.Add(f.advance)
	return f.readFn(unit, a, start, count)
}

// fakeLink builds a link over fc for cfg's first link, with a manual clock.
func fakeLink(t *testing.T, lc LinkConfig) (*Source, *link, *fakeConn, *time.Time) {
	t.Helper()
	if lc.URL == "" {
		lc.URL = "tcp://127.0.0.1:502"
	}
	src, err := New(Config{Links: []LinkConfig{lc}}, "site1", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	clk := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	fc := &fakeConn{clock: &clk, advance: 2 * time.Millisecond}
	l := src.links[0]
	l.conn, l.now, l.jitter = fc, func() time.Time { return clk }, func() float64 { return 0 }
	return src, l, fc, &clk
}

// twoReadDevice has one holding and one input read.
var twoReadDevice = DeviceConfig{ID: "TK-1", UnitID: 3, Kind: "tank", Label: "1号罐", Tags: map[string]string{"area": "A", "zone": "z1"},
	Points: []PointConfig{
		{Name: "level", Area: "holding", Address: 0, Type: "uint16", Scale: ptr(0.5), Unit: "mm"},
		{Name: "high", Area: "holding", Address: 1, Type: "bool", Bit: ptr(0)},
		{Name: "temp", Area: "input", Address: 10, Type: "float32"},
	}}

func regs(words ...uint16) []byte {
	b := make([]byte, 0, 2*len(words))
	for _, w := range words {
		b = append(b, byte(w>>8), byte(w))
	}
	return b
}

func TestPollSuccess(t *testing.T) {
	src, l, fc, clk := fakeLink(t, LinkConfig{Name: "l", Devices: []DeviceConfig{twoReadDevice}})
	fc.readFn = func(unit byte, a area, start, count uint16) ([]byte, error) {
		if a == areaHolding {
			return regs(100, 1), nil
		}
		return regs(0x41BC, 0), nil // 23.5
	}
	start := *clk
	acc := &collector{}
	l.poll(context.Background(), acc, l.devs[0])
	if got := strings.Join(fc.reads, ", "); got != "3:holding 0+2, 3:input 10+2" {
		t.Errorf("reads %s", got)
	}
	if acc.calls != 1 || len(acc.pts) != 2 {
		t.Fatalf("%d Accept calls, %d points; want 1 call with 2", acc.calls, len(acc.pts))
	}
	st, v := acc.pts[0], acc.pts[1] // the status comes first
	if v.Measurement != "tank" || !v.Time.Equal(start) || len(v.Fields) != 3 {
		t.Errorf("value point %+v", v)
	}
	if f, _ := v.Field("level"); f.Kind != gateway.KindFloat || f.F != 50 {
		t.Errorf("level %+v", f)
	}
	if f, _ := v.Field("high"); f.Kind != gateway.KindBool || !f.B {
		t.Errorf("high %+v", f)
	}
	if f, _ := v.Field("temp"); f.F != 23.5 {
		t.Errorf("temp %+v", f)
	}
	if got := fmt.Sprint(v.Tags); got != "[{site site1} {device TK-1} {area A} {zone z1}]" {
		t.Errorf("tags %s", got)
	}
	if st.Measurement != gateway.MeasurementDeviceStatus || !st.Time.Equal(start) {
		t.Errorf("status %+v", st)
	}
	if got := fmt.Sprint(st.Tags); got != "[{site site1} {device TK-1} {kind tank} {source modbus}]" {
		t.Errorf("status tags %s", got)
	}
	if f, _ := st.Field("rtt_ms"); f.F != 4 {
		t.Errorf("rtt_ms %v, want 4 (two 2 ms reads)", f.F)
	}
	if _, ok := st.Field("error"); ok || !online(st) {
		t.Errorf("status fields %+v", st.Fields)
	}
	ds := src.Devices()[0]
	if !ds.Online || ds.Label != "1号罐" || ds.Link != "l" || ds.UnitID != 3 || ds.RTTMillis != 4 || ds.Polls != 1 ||
		ds.Values[0].Value != 50.0 || ds.Values[1].Value != true || ds.Values[0].Quality != QualityGood || ds.Values[0].Unit != "mm" {
		t.Errorf("Devices() %+v", ds)
	}
}

// TestFailedPollProducesNoValues: the second read fails after the first
// succeeded: no value point at all, only an offline device_status, and the
// connection is closed.
func TestFailedPollProducesNoValues(t *testing.T) {
	src, l, fc, _ := fakeLink(t, LinkConfig{Name: "l", Devices: []DeviceConfig{twoReadDevice}})
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	fc.readFn = func(unit byte, a area, start, count uint16) ([]byte, error) {
		if a == areaHolding {
			return regs(100, 1), nil
		}
		return nil, fmt.Errorf("read input: %w", timeout)
	}
	acc := &collector{}
	l.poll(context.Background(), acc, l.devs[0])
	if len(acc.pts) != 1 || acc.pts[0].Measurement != gateway.MeasurementDeviceStatus || online(acc.pts[0]) {
		t.Fatalf("points %+v, want only an offline device_status", acc.pts)
	}
	if e, _ := acc.pts[0].Field("error"); e.S != "timeout: read input: read tcp: i/o timeout" {
		t.Errorf("error %q", e.S)
	}
	if fc.closes != 1 {
		t.Errorf("%d closes after a failed request, want 1", fc.closes)
	}
	ds := src.Devices()[0]
	if ds.Online || ds.LastError == "" || ds.Failures != 1 {
		t.Errorf("Devices() %+v", ds)
	}
	for _, v := range ds.Values {
		if v.Quality != QualityBad || v.Value != nil {
			t.Errorf("value %+v after a failed first poll", v)
		}
	}
	// A wrong-length answer is a failure too, and also closes.
	fc.readFn = func(unit byte, a area, start, count uint16) ([]byte, error) { return regs(1), nil }
	l.poll(context.Background(), acc, l.devs[0])
	if e, _ := acc.pts[1].Field("error"); !strings.HasPrefix(e.S, "decode: read holding 0+2 from unit 3: ") {
		t.Errorf("error %q", e.S)
	}
	if fc.closes != 2 {
		t.Errorf("closes %d", fc.closes)
	}
}

// TestConnectFailureBacksOffAtLinkLevel: while backing off, polls report
// offline without dialling; after the delay one dial; success resets it.
func TestConnectFailureBacksOffAtLinkLevel(t *testing.T) {
	dev2 := twoReadDevice
	dev2.ID, dev2.UnitID = "TK-2", 4
	src, l, fc, clk := fakeLink(t, LinkConfig{Name: "l", MaxBackoff: time.Second, Devices: []DeviceConfig{twoReadDevice, dev2}})
	fc.connectErr = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	fc.readFn = func(byte, area, uint16, uint16) ([]byte, error) { return regs(1, 2), nil }
	acc := &collector{}
	ctx := context.Background()

	l.poll(ctx, acc, l.devs[0]) // dial 1 fails: back off 50ms (jitter 0)
	l.poll(ctx, acc, l.devs[1]) // within the backoff: no dial
	*clk = clk.Add(49 * time.Millisecond)
	l.poll(ctx, acc, l.devs[0])
	if fc.connects != 1 || len(fc.reads) != 0 {
		t.Fatalf("%d dials, %d reads during backoff; want 1, 0", fc.connects, len(fc.reads))
	}
	for _, p := range acc.pts {
		if e, _ := p.Field("error"); online(p) || e.S != "connect: dial tcp: connection refused" {
			t.Errorf("status %+v", p.Fields)
		}
	}
	*clk = clk.Add(2 * time.Millisecond)
	l.poll(ctx, acc, l.devs[1]) // dial 2 fails: back off 100ms
	*clk = clk.Add(99 * time.Millisecond)
	l.poll(ctx, acc, l.devs[1])
	if fc.connects != 2 {
		t.Fatalf("%d dials, want 2", fc.connects)
	}
	*clk = clk.Add(2 * time.Millisecond)
	fc.connectErr = nil
	l.poll(ctx, acc, l.devs[0])
	l.poll(ctx, acc, l.devs[1])
	if fc.connects != 4 || len(fc.reads) != 4 || !online(acc.pts[len(acc.pts)-2]) {
		t.Errorf("after recovery: %d dials, %d reads", fc.connects, len(fc.reads))
	}
	if s := src.Stats(); s.ConnectFailures != 2 || s.Polls != 7 || s.PollFailures != 5 {
		t.Errorf("stats %+v", s)
	}
}

// TestUnitTimeoutReconnectsAtOnce: a timeout of one unit closes the
// connection, and the next device reconnects right away (no backoff).
func TestUnitTimeoutReconnectsAtOnce(t *testing.T) {
	dev2 := twoReadDevice
	dev2.ID, dev2.UnitID = "TK-2", 4
	_, l, fc, _ := fakeLink(t, LinkConfig{Name: "l", Devices: []DeviceConfig{twoReadDevice, dev2}})
	fc.readFn = func(unit byte, a area, start, count uint16) ([]byte, error) {
		if unit == 3 {
			return nil, serial.ErrTimeout
		}
		return regs(1, 2), nil
	}
	acc := &collector{}
	l.poll(context.Background(), acc, l.devs[0])
	l.poll(context.Background(), acc, l.devs[1])
	if fc.connects != 2 || fc.closes != 1 || len(fc.reads) != 3 {
		t.Errorf("dials %d closes %d reads %v", fc.connects, fc.closes, fc.reads)
	}
	if online(acc.status("TK-1")[0]) || !online(acc.status("TK-2")[0]) {
		t.Errorf("statuses %+v", acc.pts)
	}
}

func TestAcceptErrorIsCounted(t *testing.T) {
	src, l, fc, _ := fakeLink(t, LinkConfig{Name: "l", Devices: []DeviceConfig{twoReadDevice}})
	fc.readFn = func(byte, area, uint16, uint16) ([]byte, error) { return regs(1, 2), nil }
	acc := &collector{fail: errors.New("spool: disk full")}
	for range 3 {
		l.poll(context.Background(), acc, l.devs[0])
	}
	if s := src.Stats(); s.AcceptErrors != 3 || acc.calls != 3 {
		t.Errorf("stats %+v, calls %d", s, acc.calls)
	}
}

// TestShutdownMidPollIsNotAFailure: a poll cut short by ctx produces
// nothing rather than a spurious offline status.
func TestShutdownMidPollIsNotAFailure(t *testing.T) {
	_, l, fc, _ := fakeLink(t, LinkConfig{Name: "l", Devices: []DeviceConfig{twoReadDevice}})
	ctx, cancel := context.WithCancel(context.Background())
	fc.readFn = func(byte, area, uint16, uint16) ([]byte, error) { cancel(); return regs(1, 2), nil }
	acc := &collector{}
	l.poll(ctx, acc, l.devs[0])
	if acc.calls != 0 {
		t.Errorf("Accept called with %+v", acc.pts)
	}
}

func TestChangeIsLoggedOnlyOnChange(t *testing.T) {
	timeout := serial.ErrTimeout
	exc := &modbus.ModbusError{FunctionCode: 0x83, ExceptionCode: 4}
	for _, c := range []struct {
		prev devStatus
		err  error
		want string // "" = no log
	}{
		{devStatus{}, nil, "DEBUG device online"},
		{devStatus{polled: true, online: true}, nil, ""},
		{devStatus{polled: true, online: false, class: classTimeout}, nil, "INFO device back online"},
		{devStatus{}, timeout, "WARN device offline"},
		{devStatus{polled: true, online: true}, timeout, "WARN device offline"},
		{devStatus{polled: true, class: classTimeout}, timeout, ""},
		{devStatus{polled: true, class: classTimeout}, exc, "WARN device still offline, failing differently"},
	} {
		lvl, msg, ok := change(c.prev, c.err)
		got := ""
		if ok {
			got = lvl.String() + " " + msg
		}
		if got != c.want {
			t.Errorf("change(%+v, %v) = %q, want %q", c.prev, c.err, got, c.want)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err          error
		want, metric string
	}{
		{&connectError{err: syscall.ECONNREFUSED}, classConnect, "io"},
		{fmt.Errorf("read: %w", &modbus.ModbusError{ExceptionCode: 11}), classException, "exception"},
		{&lengthError{area: areaHolding, want: 4, got: 2}, classDecode, "protocol"},
		{serial.ErrTimeout, classTimeout, "timeout"},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, classTimeout, "timeout"},
		{fmt.Errorf("x: %w", io.EOF), classConnection, "io"},
		{io.ErrUnexpectedEOF, classConnection, "io"},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, classConnection, "io"},
		{&net.OpError{Op: "write", Err: syscall.EPIPE}, classConnection, "io"},
		{errors.New("modbus: response transaction id '1' does not match request '2'"), classProtocol, "protocol"},
		{errors.New("modbus: response crc '1' does not match expected '2'"), classProtocol, "crc"},
	} {
		if got := classify(c.err); got != c.want {
			t.Errorf("classify(%v) = %s, want %s", c.err, got, c.want)
		}
		if got := metricClasses[metricClass(c.err)]; got != c.metric {
			t.Errorf("metric class of %v = %s, want %s", c.err, got, c.metric)
		}
	}
}

// TestNoSecretsInErrors: user info in a link URL is refused (credentials
// would end up in logs and device_status errors) without being repeated.
func TestNoSecretsInErrors(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	for _, url := range []string{"tcpx://op:" + secret + "@host:502", "tcp://op:" + secret + "@127.0.0.1:1"} {
		_, err := New(Config{Links: []LinkConfig{{Name: "l", URL: url, Devices: []DeviceConfig{twoReadDevice}}}}, "s", nil)
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("New(%s): %v", strings.ReplaceAll(url, secret, "…"), err)
		}
	}
}

func TestNewAppliesDefaultsAndRejectsWhatCannotBePolled(t *testing.T) {
	src, err := New(Config{Links: []LinkConfig{
		{Name: "tcp", URL: "tcp://10.0.0.5", Devices: []DeviceConfig{{ID: "a", Kind: "k", UnitID: 1, Points: []PointConfig{{Name: "v", Area: "holding", Type: "uint16"}}}}},
		{Name: "rtu", URL: "rtu:///dev/ttyUSB0", Serial: &SerialConfig{}, Devices: []DeviceConfig{{ID: "b", Kind: "k", UnitID: 2, Points: []PointConfig{{Name: "v", Area: "coil", Type: "bool"}}}}},
	}}, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	tcp := src.links[0].conn.(*goburrowConn).handler.(*tcpTransport)
	if tcp.addr != "10.0.0.5:502" || tcp.timeout != time.Second {
		t.Errorf("tcp transport: address %q, timeout %v", tcp.addr, tcp.timeout)
	}
	rtu := src.links[1].conn.(*goburrowConn).handler.(*modbus.RTUClientHandler)
	if rtu.Address != "/dev/ttyUSB0" || rtu.BaudRate != 9600 || rtu.DataBits != 8 || rtu.Parity != "E" || rtu.StopBits != 1 || rtu.Timeout != time.Second || rtu.IdleTimeout != 0 {
		t.Errorf("rtu handler %+v", rtu.Config)
	}
	if d := src.links[0].devs[0]; d.interval != time.Second || src.links[0].maxBackoff != 30*time.Second {
		t.Errorf("defaults: interval %v backoff %v", d.interval, src.links[0].maxBackoff)
	}

	_, err = New(Config{Links: []LinkConfig{
		{Name: "", URL: "udp://x", Devices: []DeviceConfig{{ID: "", Kind: "", UnitID: 300}}},
		{Name: "bus", URL: "rtu:///dev/ttyS0", Serial: &SerialConfig{Baud: 1234, Parity: "X", DataBits: 9, StopBits: 3},
			Devices: []DeviceConfig{{ID: "d", Kind: "k", UnitID: 0, Tags: map[string]string{"site": "x"}, Points: []PointConfig{{Name: "v", Area: "coil", Type: "bool"}}}}},
	}}, "", nil)
	want := []string{
		"site.id: required",
		"modbus.links[0].name: required",
		"modbus.links[0].url: want tcp://host:port or rtu:///dev/ttyUSB0",
		"modbus.links[0].devices[0].id: required",
		"modbus.links[0].devices[0].kind: required",
		"modbus.links[0].devices[0].unit_id: must be 0..247, or 255 for a TCP device addressed by IP alone (got 300)",
		"modbus.links[0].devices[0].points: a device needs at least one point",
		"modbus.links[1].serial.parity: must be one of N, E, O (got \"X\")",
		"modbus.links[1].serial.baud: 1234",
		"modbus.links[1].serial.data_bits: must be 5..8 (got 9)",
		"modbus.links[1].serial.stop_bits: must be 1 or 2 (got 3)",
		"modbus.links[1].devices[0].unit_id: required on a serial bus: 1..247 (0 is broadcast)",
		"modbus.links[1].devices[0].tags.site: tag \"site\" is set by the gateway",
	}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

// batchRecorder is an Acceptor that records which devices each Accept
// carried, and cancels after the want-th call.
type batchRecorder struct {
	batches [][]string // per Accept: measurement/device of each point
	want    int
	cancel  context.CancelFunc
}

func (b *batchRecorder) Accept(_ context.Context, pts []gateway.Point) error {
	var ids []string
	for i := range pts {
		dev, _ := pts[i].Tag(gateway.TagDevice)
		ids = append(ids, pts[i].Measurement+"/"+dev)
	}
	b.batches = append(b.batches, ids)
	if len(b.batches) == b.want {
		b.cancel()
	}
	return nil
}

// TestLinkBatchesDevicesDueTogether: devices due at the same moment hand
// their points over in one Accept, in poll order; a device whose last poll
// failed is not waited for, and nothing waits longer than batchFor.
func TestLinkBatchesDevicesDueTogether(t *testing.T) {
	dev := func(id string, unit int) DeviceConfig {
		d := twoReadDevice
		d.ID, d.UnitID = id, unit
		return d
	}
	cases := []struct {
		name    string
		advance time.Duration // per read; a poll is two reads
		failing int           // unit whose reads time out, 0 for none
		want    [][]string
	}{
		{"one accept for the tick", 2 * time.Millisecond, 0, [][]string{
			{"device_status/TK-1", "tank/TK-1", "device_status/TK-2", "tank/TK-2", "device_status/TK-3", "tank/TK-3"},
		}},
		{"a failing device is not waited for", 2 * time.Millisecond, 4, [][]string{
			{"device_status/TK-1", "tank/TK-1"},
			{"device_status/TK-2", "device_status/TK-3", "tank/TK-3"},
		}},
		{"slow polls are not held back", 15 * time.Millisecond, 0, [][]string{
			{"device_status/TK-1", "tank/TK-1"},
			{"device_status/TK-2", "tank/TK-2"},
			{"device_status/TK-3", "tank/TK-3"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, l, fc, _ := fakeLink(t, LinkConfig{Name: "l", Devices: []DeviceConfig{dev("TK-1", 3), dev("TK-2", 4), dev("TK-3", 5)}})
			fc.advance = c.advance
			fc.readFn = func(unit byte, a area, start, count uint16) ([]byte, error) {
				if int(unit) == c.failing {
					return nil, serial.ErrTimeout
				}
				if a == areaHolding {
					return regs(100, 1), nil
				}
				return regs(0x4148, 0), nil
			}
			if c.failing != 0 { // its last poll failed
				l.devs[1].failing = true
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			acc := &batchRecorder{want: len(c.want), cancel: cancel}
			l.run(ctx, acc)
			if !reflect.DeepEqual(acc.batches, c.want) {
				t.Errorf("batches\n got %v\nwant %v", acc.batches, c.want)
			}
		})
	}
}
