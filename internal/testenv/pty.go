package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// socatPath is where Debian and Ubuntu install socat (scripts/setup.sh).
const socatPath = "/usr/bin/socat"

// PtyPair starts socat joining two raw pseudo-terminals, for Modbus RTU
// over a "serial line" with the simulator on one end and the gateway on the
// other, and returns their paths. socat is stopped at cleanup. A missing
// socat fails the test (it never skips).
func PtyPair(t testing.TB) (a, b string) {
	t.Helper()
	if !isExecutable(socatPath) {
		t.Fatalf("testenv: %s is required (apt-get install socat)", socatPath)
	}
	dir := t.TempDir()
	a, b = filepath.Join(dir, "a"), filepath.Join(dir, "b")
	cmd := exec.Command(socatPath, "-d", "-d", "pty,raw,echo=0,link="+a, "pty,raw,echo=0,link="+b)
	var log strings.Builder
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start socat: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("socat:\n%s", log.String())
		}
	})
	Eventually(t, 10*time.Second, func() bool {
		select {
		case <-exited:
			t.Fatalf("testenv: socat exited:\n%s", log.String())
		default:
		}
		_, errA := os.Stat(a)
		_, errB := os.Stat(b)
		return errA == nil && errB == nil
	}, "socat's ptys %s and %s", a, b)
	return a, b
}
