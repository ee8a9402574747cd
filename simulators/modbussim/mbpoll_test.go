package modbussim

import (
	"context"
	"math"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// These tests check the server against mbpoll, a Modbus master written by
// other people in another language: if both this package's client and
// encoders were wrong in the same way, mbpoll would still disagree.

var mbpollValue = regexp.MustCompile(`(?m)^\[(\d+)\]:\s+(\S+)`)

// mbpoll runs mbpoll with args and returns the values it printed, by
// reference number.
func mbpoll(t *testing.T, args ...string) map[int]string {
	t.Helper()
	bin := requireTool(t, "mbpoll")
	ctx, cancel := context.WithTimeout(context.Background(), replyTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("mbpoll %q: %v\n%s", args, err, out)
	}
	vals := make(map[int]string)
	for _, m := range mbpollValue.FindAllStringSubmatch(string(out), -1) {
		ref, _ := strconv.Atoi(m[1])
		vals[ref] = m[2]
	}
	return vals
}

func mbpollTCP(t *testing.T, addr string, unit int, args ...string) map[int]string {
	t.Helper()
	return mbpollWriteTCP(t, addr, unit, args)
}

// mbpollWriteTCP runs mbpoll with options args; with values it writes them
// (they follow the host on mbpoll's command line).
func mbpollWriteTCP(t *testing.T, addr string, unit int, args []string, values ...string) map[int]string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	mustNoErr(t, err)
	base := []string{"-m", "tcp", "-a", strconv.Itoa(unit), "-p", port, "-1", "-o", "5"}
	return mbpoll(t, append(append(append(base, args...), "127.0.0.1"), values...)...)
}

func wantInts(t *testing.T, got map[int]string, first int, want ...int64) {
	t.Helper()
	for i, w := range want {
		ref := first + i
		v, err := strconv.ParseInt(got[ref], 10, 64)
		if err != nil || v != w {
			t.Errorf("mbpoll [%d] = %q, want %d (all: %v)", ref, got[ref], w, got)
		}
	}
}

func wantFloat(t *testing.T, got map[int]string, ref int, want float64) {
	t.Helper()
	v, err := strconv.ParseFloat(got[ref], 64)
	if err != nil || math.Abs(v-want) > 1e-4*math.Abs(want) {
		t.Errorf("mbpoll [%d] = %q, want %v (all: %v)", ref, got[ref], want, got)
	}
}

func TestMbpollReadsTCP(t *testing.T) {
	s, addr := startTCP(t)
	u := s.Unit(1)
	mustNoErr(t, u.SetRegisters(Holding, 0, 0x1234, 0x5678, 0xFFFF, 7))
	mustNoErr(t, u.SetValue(Holding, 10, "float32", "ABCD", 1, 0, 23.5))
	mustNoErr(t, u.SetValue(Holding, 20, "float32", "CDAB", 1, 0, -1234.5))
	mustNoErr(t, u.SetValue(Holding, 30, "int32", "ABCD", 1, 0, -123456789))
	mustNoErr(t, u.SetValue(Input, 40, "int32", "CDAB", 1, 0, 70000))
	mustNoErr(t, u.SetValue(Input, 5, "int16", "ABCD", 0.1, 0, -12.3))
	mustNoErr(t, u.SetBits(Coil, 0, true, false, true))
	mustNoErr(t, u.SetBits(Discrete, 8, false, true))
	mustNoErr(t, s.Unit(2).SetRegisters(Holding, 0, 2222))

	t.Run("holding raw", func(t *testing.T) {
		// mbpoll's -r is 1-based: reference 1 is protocol address 0.
		wantInts(t, mbpollTCP(t, addr, 1, "-t", "4", "-r", "1", "-c", "4"), 1, 0x1234, 0x5678, 0xFFFF, 7)
	})
	t.Run("float32 ABCD is mbpoll big-endian words", func(t *testing.T) {
		wantFloat(t, mbpollTCP(t, addr, 1, "-t", "4:float", "-B", "-r", "11", "-c", "1"), 11, 23.5)
	})
	t.Run("float32 CDAB is mbpoll default word order", func(t *testing.T) {
		wantFloat(t, mbpollTCP(t, addr, 1, "-t", "4:float", "-r", "21", "-c", "1"), 21, -1234.5)
	})
	t.Run("int32 ABCD", func(t *testing.T) {
		wantInts(t, mbpollTCP(t, addr, 1, "-t", "4:int", "-B", "-r", "31", "-c", "1"), 31, -123456789)
	})
	t.Run("int32 CDAB input", func(t *testing.T) {
		wantInts(t, mbpollTCP(t, addr, 1, "-t", "3:int", "-r", "41", "-c", "1"), 41, 70000)
	})
	t.Run("input int16 scaled", func(t *testing.T) {
		got := mbpollTCP(t, addr, 1, "-t", "3", "-0", "-r", "5", "-c", "1")
		// mbpoll prints a register as unsigned with the signed value in brackets.
		wantInts(t, got, 5, 0xFF85) // -123
	})
	t.Run("coils", func(t *testing.T) {
		wantInts(t, mbpollTCP(t, addr, 1, "-t", "0", "-r", "1", "-c", "3"), 1, 1, 0, 1)
	})
	t.Run("discrete inputs", func(t *testing.T) {
		wantInts(t, mbpollTCP(t, addr, 1, "-t", "1", "-0", "-r", "8", "-c", "2"), 8, 0, 1)
	})
	t.Run("second unit", func(t *testing.T) {
		wantInts(t, mbpollTCP(t, addr, 2, "-t", "4", "-r", "1", "-c", "1"), 1, 2222)
	})
}

func TestMbpollWritesTCP(t *testing.T) {
	s, addr := startTCP(t)
	u := s.Unit(3)
	mbpollWriteTCP(t, addr, 3, []string{"-t", "4", "-r", "101"}, "101", "202", "303") // function 16
	mbpollWriteTCP(t, addr, 3, []string{"-t", "4", "-r", "51"}, "4242")               // function 6
	mbpollWriteTCP(t, addr, 3, []string{"-t", "0", "-r", "11"}, "1", "0", "1")        // function 15
	mbpollWriteTCP(t, addr, 3, []string{"-t", "0", "-r", "21"}, "1")                  // function 5
	mbpollWriteTCP(t, addr, 3, []string{"-t", "4:float", "-B", "-r", "201"}, "57.3")  // a float32, ABCD
	regs, _ := u.Registers(Holding, 100, 3)
	single, _ := u.Registers(Holding, 50, 1)
	bits, _ := u.Bits(Coil, 10, 11)
	f, _ := u.Value(Holding, 200, "float32", "ABCD", 1, 0)
	if !slices.Equal(regs, []uint16{101, 202, 303}) || single[0] != 4242 ||
		!slices.Equal(bits, []bool{true, false, true, false, false, false, false, false, false, false, true}) || float32(f) != float32(57.3) {
		t.Fatalf("after mbpoll writes: holding 100.. %v, 50 %v, coils 10.. %v, float %v", regs, single, bits, f)
	}
}

func TestMbpollTimesOutOnSilentUnit(t *testing.T) {
	s, addr := startTCP(t)
	mustNoErr(t, s.Unit(1).SetFault(Fault{Mode: NoReply}))
	bin := requireTool(t, "mbpoll")
	_, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), replyTimeout)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-m", "tcp", "-a", "1", "-p", port, "-1", "-o", "0.2", "-t", "4", "127.0.0.1").CombinedOutput()
	if mbpollValue.Match(out) {
		t.Fatalf("mbpoll got a value from a silent unit:\n%s", out)
	}
}
