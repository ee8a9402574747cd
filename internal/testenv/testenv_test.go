package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestFreePort(t *testing.T) {
	port := FreePort(t)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("listen on the free port %d: %v", port, err)
	}
	l.Close()
	if port < 1024 {
		t.Errorf("FreePort() = %d, want a port outside the well-known range", port)
	}
}

func TestFreePorts(t *testing.T) {
	ports := FreePorts(t, 50)
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d returned twice in %v", p, ports)
		}
		seen[p] = true
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("listen on the free port %d: %v", p, err)
		}
		defer l.Close()
	}
}

func TestEventually(t *testing.T) {
	t.Run("becomes true", func(t *testing.T) {
		n := 0
		Eventually(t, 10*time.Second, func() bool { n++; return n == 3 }, "n reaches 3")
		if n != 3 {
			t.Errorf("cond ran %d times after it became true, want 3", n)
		}
	})
	t.Run("times out", func(t *testing.T) {
		ft := runFake(t, func(tb testing.TB) {
			Eventually(tb, 20*time.Millisecond, func() bool { return false }, "the %s is %d", "answer", 42)
		})
		if !strings.Contains(ft.fatal, "the answer is 42") || !strings.Contains(ft.fatal, "20ms") {
			t.Errorf("failure message = %q, want the formatted message and the timeout", ft.fatal)
		}
	})
}

// A missing server must fail the test, never skip it: a machine without the
// services must not pass the integration tests.
func TestMissingBinaryFails(t *testing.T) {
	for _, tc := range []struct {
		env   string
		start func(testing.TB)
	}{
		{"HAZARDGW_MOSQUITTO", func(tb testing.TB) { Mosquitto(tb) }},
		{"HAZARDGW_INFLUXD", func(tb testing.TB) { InfluxDB(tb) }},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv(tc.env, "/nonexistent/server")
			ft := runFake(t, tc.start)
			if ft.skipped {
				t.Fatal("the test was skipped, want it failed")
			}
			if !strings.Contains(ft.fatal, tc.env) || !strings.Contains(ft.fatal, "scripts/setup.sh") {
				t.Errorf("failure message = %q, want the variable and how to install", ft.fatal)
			}
		})
	}
}

// Servers started by a test are gone when it ends: no process, no zombie, no
// listener.
func TestNoLeaks(t *testing.T) {
	var pids []int
	var addrs []string
	t.Run("start", func(t *testing.T) {
		b := Mosquitto(t)
		db := InfluxDB(t)
		pids = append(pids, b.proc.pid(), db.proc.pid())
		addrs = append(addrs, b.Addr(), db.Addr())
		// A stopped and restarted server must not leave its first process.
		db.Restart()
		pids = append(pids, db.proc.pid())
	})
	for _, pid := range pids {
		if pid == 0 {
			t.Fatal("a server was not running")
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d still exists after the test ended (kill -0: %v)", pid, err)
		}
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the test ended", a)
		}
	}
}

// A port taken between FreePort and the server's bind is retried on another.
func TestPortInUseRetried(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	ports := func() func() (int, error) {
		var mu sync.Mutex
		first := true
		return func() (int, error) {
			mu.Lock()
			defer mu.Unlock()
			if first {
				first = false
				return takenPort, nil
			}
			return freePort()
		}
	}
	t.Run("mosquitto", func(t *testing.T) {
		b := newBroker(t, ports())
		if b.port == takenPort {
			t.Fatalf("broker claims the taken port %d", takenPort)
		}
		if !strings.Contains(b.Log(), "ddress already in use") {
			t.Errorf("log shows no failed first attempt:\n%s", b.Log())
		}
	})
	t.Run("influxd", func(t *testing.T) {
		db := newInflux(t, ports())
		if db.httpPort == takenPort {
			t.Fatalf("influxd claims the taken port %d", takenPort)
		}
		if _, err := db.Query("", "SHOW DATABASES"); err != nil {
			t.Fatal(err)
		}
	})
}

// fakeTB records a test's failure instead of failing the real test.
type fakeTB struct {
	testing.TB
	mu      sync.Mutex
	fatal   string
	skipped bool
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

func (f *fakeTB) Skipf(format string, args ...any) { f.SkipNow() }
func (f *fakeTB) Skip(args ...any)                 { f.SkipNow() }
func (f *fakeTB) SkipNow() {
	f.mu.Lock()
	f.skipped = true
	f.mu.Unlock()
	runtime.Goexit()
}

// runFake runs fn with a fakeTB on its own goroutine, as the testing package
// runs a test, and returns what it recorded. fn must end in a failure.
func runFake(t *testing.T, fn func(testing.TB)) *fakeTB {
	t.Helper()
	ft := &fakeTB{TB: t}
	done := make(chan bool)
	go func() {
		returned := false
		defer func() { done <- returned }()
		fn(ft)
		returned = true
	}()
	if <-done {
		t.Fatal("the function returned, want it to fail the test")
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft
}

// Servers die with the test binary even when it cannot clean up (a panic, a
// -timeout, a SIGKILL): the kernel kills them, so no server outlives a run.
func TestServersDieWithTestBinary(t *testing.T) {
	if os.Getenv("TESTENV_DIE_CHILD") == "1" {
		b, db := Mosquitto(t), InfluxDB(t)
		fmt.Printf("PIDS %d %d\n", b.proc.pid(), db.proc.pid())
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never reached
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServersDieWithTestBinary$")
	// The child's temporary directories go under ours, since it cannot clean up.
	cmd.Env = append(os.Environ(), "TESTENV_DIE_CHILD=1", "TMPDIR="+t.TempDir())
	out, _ := cmd.Output() // it dies of SIGKILL
	var a, b int
	if _, err := fmt.Sscanf(string(out[strings.Index(string(out), "PIDS"):]), "PIDS %d %d", &a, &b); err != nil {
		t.Fatalf("child printed %q: %v", out, err)
	}
	for _, pid := range []int{a, b} {
		Eventually(t, 10*time.Second, func() bool { return gone(pid) }, "server %d gone after its test binary was killed", pid)
	}
}

// gone reports whether pid has exited: it does not exist, or it is a zombie
// waiting for an init process that does not reap.
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return os.IsNotExist(err)
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}
