package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/modbussim"
)

// startModbusSim starts the simulator on a free loopback port with unit 1
// holding a known register block: 23.5 as float32 ABCD at 0, "GD-101" at
// 2..4, a half 1.5 at 5, and coils 0..3 = 1 0 1 1. Unit 2 answers every
// request with exception 2 (illegal data address); other units are absent.
func startModbusSim(t *testing.T) (*modbussim.Server, string) {
	t.Helper()
	sim := modbussim.New(modbussim.Options{})
	t.Cleanup(func() { sim.Close() })
	addr, err := sim.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fillUnit(t, sim)
	return sim, addr
}

func fillUnit(t *testing.T, sim *modbussim.Server) {
	t.Helper()
	u := sim.Unit(1)
	if err := u.SetRegisters(modbussim.Holding, 0, 0x41BC, 0x0000, 0x4744, 0x2D31, 0x3031, 0x3E00); err != nil {
		t.Fatal(err)
	}
	if err := u.SetBits(modbussim.Coil, 0, true, false, true, true); err != nil {
		t.Fatal(err)
	}
	if err := sim.Unit(2).SetFault(modbussim.Fault{Mode: modbussim.Exception, Code: 2}); err != nil {
		t.Fatal(err)
	}
}

// rowRE matches a table row whose cells are the given words, separated by
// the spaces tabwriter puts between columns.
func rowRE(cells ...string) *regexp.Regexp {
	for i, c := range cells {
		cells[i] = regexp.QuoteMeta(c)
	}
	return regexp.MustCompile(`(?m)^` + strings.Join(cells, ` +`) + ` *$`)
}

// checkProbeOutput checks the parts of a probe of unit 1's registers 0..5
// that identify the block written by fillUnit.
func checkProbeOutput(t *testing.T, out string) {
	t.Helper()
	for _, re := range []*regexp.Regexp{
		rowRE("addr", "hex", "uint16", "int16", "ascii"),
		rowRE("0", "41BC", "16828", "16828", "A."),
		rowRE("2", "4744", "18244", "18244", "GD"),
		rowRE("16-bit", "order", "int8l", "int8h", "uint8l", "uint8h", "int16", "uint16", "float16"),
		rowRE("0", "AB", "-68", "65", "188", "65", "16828", "16828", "2.8671875"),
		rowRE("0", "BA", "65", "-68", "65", "188", "-17343", "48193", "-1.0634765625"),
		rowRE("5", "AB", "0", "62", "0", "62", "15872", "15872", "1.5"),
		rowRE("32-bit", "order", "int32", "uint32", "float32"),
		rowRE("0", "ABCD", "1102839808", "1102839808", "23.5"),
		rowRE("0", "CDAB", "16828", "16828", "2.358105055765802e-41"),
		rowRE("64-bit", "order", "int64", "uint64", "float64"),
		// 0x003E3130312D4447 = 17505531609302087, stored as the nearest float64.
		rowRE("2", "HGFEDCBA", "17505531609302088", "17505531609302088", "1.6794936253319155e-307"),
		rowRE("string", "AB", "\"A\uFFFD\\x00\\x00GD-101>\""), // 0xBC alone is not UTF-8
		rowRE("string", "BA", "\"\uFFFDA\\x00\\x00DG1-10\\x00>\""),
	} {
		if !re.MatchString(out) {
			t.Errorf("no line matching %s in:\n%s", re, out)
		}
	}
	// Every address has its 16-bit rows; 32-bit values end at 4, 64-bit at 2.
	for _, re := range []*regexp.Regexp{regexp.MustCompile(`(?m)^5 +BA `), regexp.MustCompile(`(?m)^4 +DCBA `), regexp.MustCompile(`(?m)^2 +GHEFCDAB `)} {
		if !re.MatchString(out) {
			t.Errorf("no line matching %s", re)
		}
	}
	if regexp.MustCompile(`(?m)^5 +ABCD `).MatchString(out) || regexp.MustCompile(`(?m)^3 +ABCDEFGH `).MatchString(out) {
		t.Errorf("a value past the registers read:\n%s", out)
	}
}

func TestProbeCommand(t *testing.T) {
	_, addr := startModbusSim(t)
	tcp := "tcp://" + addr
	code, out, errOut := runCLI(t, nil, nil, "probe", "-url", tcp, "-unit", "1", "-address", "0", "-count", "6")
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.HasPrefix(out, tcp+" unit 1, holding 0..5: read in ") {
		t.Errorf("first line of:\n%s", out)
	}
	checkProbeOutput(t, out)

	code, out, errOut = runCLI(t, nil, nil, "probe", "-url", tcp, "-area", "coil", "-count", "4")
	if code != exitOK || !rowRE("0", "1").MatchString(out) || !rowRE("1", "0").MatchString(out) || !rowRE("3", "1").MatchString(out) || strings.Contains(out, "16-bit") {
		t.Errorf("coils: exit %d\n%s%s", code, out, errOut)
	}

	for _, c := range []struct {
		name string
		args []string
		code int
		want []string // in stderr
	}{
		{"connection refused", []string{"-url", "tcp://" + closedAddr(t)}, exitFailure,
			[]string{"hazardgw probe: connect: dial tcp", "connection refused", "hint: connection refused: the host is up but nothing listens"}},
		{"wrong unit", []string{"-url", tcp, "-unit", "9", "-timeout", "300ms"}, exitFailure,
			[]string{"hazardgw probe: read holding 0+8 from unit 9: ", "i/o timeout", "hint: no reply within the timeout although the link is open: the unit id is probably wrong"}},
		{"exception", []string{"-url", tcp, "-unit", "2"}, exitFailure,
			[]string{"(illegal data address)", "hint: exception 2, illegal data address: ", "40001 is holding 0"}},
		{"no serial device", []string{"-url", "rtu:///dev/hazardgw-none", "-serial", "19200,8,N,1"}, exitFailure,
			[]string{"hazardgw probe: connect: open /dev/hazardgw-none: ", "hint: the serial device does not exist"}},
		{"bad request", []string{"-url", tcp, "-count", "200"}, exitFailure,
			[]string{"hazardgw probe: check probe request: count 200 must be 1..125 for the holding area\n"}},
		{"no url", nil, exitUsage, []string{"-url is required", "usage: hazardgw probe -url URL"}},
		{"bad serial", []string{"-url", "rtu:///dev/x", "-serial", "9600-8-E-1"}, exitUsage, []string{`-serial: "9600-8-E-1": want BAUD,DATABITS,PARITY,STOPBITS`}},
		{"extra argument", []string{"-url", tcp, "x"}, exitUsage, []string{`unexpected argument "x"`}},
		{"unknown flag", []string{"-port", "502"}, exitUsage, []string{"flag provided but not defined: -port"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, nil, nil, append([]string{"probe"}, c.args...)...)
			if code != c.code || out != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing", code, out, c.code)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if c.name == "bad request" && strings.Contains(errOut, "hint:") {
				t.Errorf("a hint for a request never sent:\n%s", errOut)
			}
		})
	}
	if code, out, _ := runCLI(t, nil, nil, "probe", "-h"); code != exitOK || !strings.Contains(out, "in each byte order") {
		t.Errorf("probe -h: exit %d\n%s", code, out)
	}
}

func TestParseSerial(t *testing.T) {
	s, err := parseSerial("19200, 8, o, 2")
	if err != nil || s.Baud != 19200 || s.DataBits != 8 || s.Parity != "O" || s.StopBits != 2 {
		t.Errorf("%+v %v", s, err)
	}
	for _, bad := range []string{"", "9600", "9600,8,E", "9600,8,E,1,1", "x,8,E,1", "9600,8,E,one"} {
		if _, err := parseSerial(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// writeReadConfig writes a configuration with the given modbus links section.
func writeReadConfig(t *testing.T, links string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	src := "site: {id: s1}\ninfluxdb: {url: \"http://127.0.0.1:8086\", bucket: b}\nmodbus:\n  links:\n" + links
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// unitLinks is a link to url with unit 1's block as points (device GD-1),
// and a device on unit 9, which does not exist (GD-9).
func unitLinks(url, serial string) string {
	return fmt.Sprintf(`    - name: panel
      url: %s
      timeout: 300ms
%s      devices:
        - id: GD-1
          unit_id: 1
          kind: gas_detector
          points:
            - {name: ch4, area: holding, address: 0, type: float32, unit: "%%LEL"}
            - {name: model, area: holding, address: 2, type: string, length: 3}
            - {name: temp, area: holding, address: 5, type: float16, scale: 2, unit: "°C"}
            - {name: relay, area: coil, address: 3, type: bool}
        - id: GD-9
          unit_id: 9
          kind: gas_detector
          points:
            - {name: ch4, area: holding, address: 0, type: float32, unit: "%%LEL"}
`, url, serial)
}

// checkReadOutput checks the table of a read of unitLinks.
func checkReadOutput(t *testing.T, out string, withDead bool) {
	t.Helper()
	rows := []*regexp.Regexp{
		rowRE("device", "point", "value", "unit", "quality"),
		rowRE("GD-1", "ch4", "23.5", "%LEL", "good"),
		rowRE("GD-1", "model", `"GD-101"`, "good"),
		rowRE("GD-1", "temp", "3", "°C", "good"),
		rowRE("GD-1", "relay", "true", "good"),
	}
	if withDead {
		rows = append(rows, rowRE("GD-9", "ch4", "-", "%LEL", "bad"))
	}
	for _, re := range rows {
		if !re.MatchString(out) {
			t.Errorf("no line matching %s in:\n%s", re, out)
		}
	}
	if n := strings.Count(out, "\n"); n != len(rows) {
		t.Errorf("%d lines, want %d:\n%s", n, len(rows), out)
	}
}

func TestReadCommand(t *testing.T) {
	_, addr := startModbusSim(t)
	path := writeReadConfig(t, unitLinks("tcp://"+addr, ""))

	code, out, errOut := runCLI(t, nil, nil, "read", "-config", path)
	if code != exitFailure {
		t.Errorf("exit %d with a dead unit, want 1", code)
	}
	checkReadOutput(t, out, true)
	for _, w := range []string{
		"hazardgw read: GD-9 (link panel, unit 9): timeout: read holding 0+2 from unit 9: ",
		"hint: no reply within the timeout although the link is open: the unit id is probably wrong",
		"hazardgw read: 1 of 2 polls failed\n",
	} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errOut)
		}
	}
	if strings.Contains(errOut, "GD-1 ") {
		t.Errorf("GD-1 reported failing:\n%s", errOut)
	}

	code, out, errOut = runCLI(t, nil, nil, "read", "-config", path, "-device", "GD-1")
	if code != exitOK || errOut != "" {
		t.Errorf("GD-1 only: exit %d, stderr %q", code, errOut)
	}
	checkReadOutput(t, out, false)

	// A unit answering with an exception: the exception is named, and
	// explained.
	exc := writeReadConfig(t, unitLinks("tcp://"+addr, "")+`        - id: GD-2
          unit_id: 2
          kind: gas_detector
          points:
            - {name: ch4, area: holding, address: 0, type: float32}
`)
	code, out, errOut = runCLI(t, nil, nil, "read", "-config", exc)
	for _, w := range []string{
		"hazardgw read: GD-2 (link panel, unit 2): exception: ",
		"(illegal data address)",
		"hint: exception 2, illegal data address: part of the range does not exist on the device",
		"hazardgw read: 2 of 3 polls failed\n",
	} {
		if code != exitFailure || !strings.Contains(errOut, w) {
			t.Errorf("exception: exit %d, stderr lacks %q:\n%s", code, w, errOut)
		}
	}
	if !rowRE("GD-2", "ch4", "-", "bad").MatchString(out) || !rowRE("GD-1", "ch4", "23.5", "%LEL", "good").MatchString(out) {
		t.Errorf("exception: stdout\n%s", out)
	}

	// A datasheet's register number as the address: read warns as check
	// does, and the device's exception is explained.
	regNum := writeReadConfig(t, `    - name: panel
      url: tcp://`+addr+`
      devices:
        - {id: GD-1, unit_id: 2, kind: gas_detector, points: [{name: ch4, area: holding, address: 40001, type: float32}]}
`)
	code, _, errOut = runCLI(t, nil, nil, "read", "-config", regNum)
	for _, w := range []string{
		"config.yaml:8: modbus.links[0].devices[0].points[0].address: warning: 40001 looks like a 1-based register number 4xxxx",
		"(did you mean address: 0?)",
		"hint: exception 2, illegal data address",
	} {
		if code != exitFailure || !strings.Contains(errOut, w) {
			t.Errorf("register number: exit %d, stderr lacks %q:\n%s", code, w, errOut)
		}
	}

	// A link nobody listens on: every device fails with the same error,
	// explained once.
	dead := writeReadConfig(t, unitLinks("tcp://"+closedAddr(t), ""))
	code, _, errOut = runCLI(t, nil, nil, "read", "-config", dead)
	if code != exitFailure || strings.Count(errOut, "connection refused:") != 1 || strings.Count(errOut, "connect: dial tcp") != 2 {
		t.Errorf("dead link: exit %d\n%s", code, errOut)
	}

	mqttOnly := filepath.Join(t.TempDir(), "mqtt.yaml")
	if err := os.WriteFile(mqttOnly, []byte("site: {id: s1}\ninfluxdb: {url: \"http://127.0.0.1:8086\", bucket: b}\n"+
		"mqtt: {url: tcp://127.0.0.1:1883, client_id: gw, subscriptions: [{topic: site/+/camera, format: camera_event}]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown device", []string{"-config", path, "-device", "GD-2"}, exitFailure, `hazardgw read: poll device "GD-2": no such device (configured: GD-1, GD-9)` + "\n"},
		{"invalid config", []string{"-config", writeReadConfig(t, unitLinks("tcp://"+addr, "      serial: {baud: 9600}\n"))}, exitFailure, "modbus.links[0].serial: only for rtu:// links"},
		{"no modbus", []string{"-config", mqttOnly}, exitFailure, "hazardgw read: " + mqttOnly + " has no Modbus devices\n"},
		{"no config", nil, exitUsage, "-config FILE is required"},
		{"extra argument", []string{"-config", path, "now"}, exitUsage, `unexpected argument "now"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, testEnv(t, ""), nil, append([]string{"read"}, c.args...)...)
			if code != c.code || out != "" || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q", code, out, errOut, c.code, c.want)
			}
		})
	}
}

// TestProbeAndReadBinary runs the built hazardgw against the simulator,
// over TCP and over a pty pair with the simulator serving Modbus RTU.
func TestProbeAndReadBinary(t *testing.T) {
	bin := testBinary(t)
	run := func(t *testing.T, args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		return exitCode(cmd.Run()), stdout.String(), stderr.String()
	}

	sim, addr := startModbusSim(t)
	pty, simEnd := testenv.PtyPair(t)
	if err := sim.ServeRTU(simEnd); err != nil {
		t.Fatal(err)
	}
	rtu := "rtu://" + pty

	t.Run("probe tcp", func(t *testing.T) {
		code, out, errOut := run(t, "probe", "-url", "tcp://"+addr, "-count", "6")
		if code != exitOK || errOut != "" {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		checkProbeOutput(t, out)
	})
	t.Run("probe rtu", func(t *testing.T) {
		code, out, errOut := run(t, "probe", "-url", rtu, "-serial", "19200,8,N,1", "-count", "6")
		if code != exitOK || errOut != "" {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		if !strings.HasPrefix(out, rtu+" unit 1, holding 0..5: ") {
			t.Errorf("first line of:\n%s", out)
		}
		checkProbeOutput(t, out)
	})
	t.Run("probe rtu dead unit", func(t *testing.T) {
		code, out, errOut := run(t, "probe", "-url", rtu, "-unit", "9", "-timeout", "300ms")
		if code != exitFailure || out != "" || !strings.Contains(errOut, "hazardgw probe: read holding 0+8 from unit 9: ") ||
			!strings.Contains(errOut, "hint: no reply within the timeout") {
			t.Errorf("exit %d, stdout %q, stderr:\n%s", code, out, errOut)
		}
	})
	t.Run("read tcp", func(t *testing.T) {
		code, out, errOut := run(t, "read", "-config", writeReadConfig(t, unitLinks("tcp://"+addr, "")))
		if code != exitFailure || !strings.Contains(errOut, "GD-9 (link panel, unit 9): timeout: ") {
			t.Errorf("exit %d, stderr:\n%s", code, errOut)
		}
		checkReadOutput(t, out, true)
	})
	t.Run("read rtu", func(t *testing.T) {
		serial := "      serial: {baud: 19200, data_bits: 8, parity: N, stop_bits: 1}\n"
		code, out, errOut := run(t, "read", "-config", writeReadConfig(t, unitLinks(rtu, serial)))
		if code != exitFailure || !strings.Contains(errOut, "GD-9 (link panel, unit 9): timeout: ") {
			t.Errorf("exit %d, stderr:\n%s", code, errOut)
		}
		checkReadOutput(t, out, true)
		code, out, errOut = run(t, "read", "-config", writeReadConfig(t, unitLinks(rtu, serial)), "-device", "GD-1")
		if code != exitOK || errOut != "" {
			t.Errorf("GD-1 only: exit %d, stderr %q", code, errOut)
		}
		checkReadOutput(t, out, false)
	})
}
