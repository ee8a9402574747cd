package testenv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// errAddrInUse reports that the server could not bind its port.
var errAddrInUse = errors.New("address already in use")

// stopGrace is how long a server may take to shut down cleanly after SIGTERM
// before its process group is killed. Mosquitto writes its persistence file on
// the way out, which takes a while with a few hundred thousand queued messages.
const stopGrace = 30 * time.Second

// logTail is how much of a server's log is printed when a test fails.
const logTail = 64 << 10

// A proc is one server process: started in its own process group with its
// output appended to a log file, watched by a goroutine that reaps it.
type proc struct {
	name    string // for messages: "mosquitto", "influxd"
	bin     string
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited and been reaped
	err  error         // cmd.Wait's result, valid after done is closed
}

// readiness tells whether a started server is ready. logSince holds what the
// server wrote to its log since this start. It returns nil when ready.
type readiness func(logSince string) error

// start runs the server with args and waits until ready returns nil. It
// returns errAddrInUse (wrapped) when the server could not bind a port, so the
// caller can retry on another.
func (p *proc) start(args []string, ready readiness) error {
	p.mu.Lock()
	running := p.cmd != nil
	p.mu.Unlock()
	if running {
		return fmt.Errorf("start %s: already running", p.name)
	}
	f, err := os.OpenFile(p.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	defer f.Close()
	offset, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	cmd := exec.Command(p.bin, args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true, // its own group, so stopping it reaches anything it forks
		// The kernel kills the server if the test binary dies without cleaning
		// up (a panic, a -timeout), so no server outlives its test.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()

	var lastErr error
	exited := false
	isReady := poll(readyTimeout, func() bool {
		select {
		case <-done:
			exited = true
			return true
		default:
		}
		lastErr = ready(p.readLog(offset))
		return lastErr == nil
	})
	if exited {
		p.mu.Lock()
		werr := p.err
		p.cmd, p.done = nil, nil
		p.mu.Unlock()
		out := p.readLog(offset)
		if strings.Contains(strings.ToLower(out), "address already in use") {
			return fmt.Errorf("start %s: %w", p.name, errAddrInUse)
		}
		return fmt.Errorf("start %s: exited before it was ready (%v); its log:\n%s", p.name, werr, out)
	}
	if !isReady {
		p.kill()
		return fmt.Errorf("start %s: not ready after %v (%v); its log:\n%s", p.name, readyTimeout, lastErr, p.readLog(offset))
	}
	return nil
}

// stop sends SIGTERM to the server's process group, waits for it to exit, and
// kills the group if it takes longer than stopGrace. It does nothing when the
// server is not running.
func (p *proc) stop() error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	var err error
	select {
	case <-done: // it died on its own; its pid may belong to someone else now
		p.mu.Lock()
		err = fmt.Errorf("stop %s: it had exited on its own (%v)", p.name, p.err)
		p.mu.Unlock()
	default:
		err = p.terminate(cmd.Process.Pid, done)
	}
	p.mu.Lock()
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
	return err
}

func (p *proc) terminate(pid int, done <-chan struct{}) error {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(stopGrace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("stop %s: still running %v after SIGTERM, killed", p.name, stopGrace)
	}
}

// kill kills the server's process group and waits until it has been reaped.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
	default:
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// pid returns the server's process id, or 0 when it is not running.
func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// readLog returns the log from byte offset on.
func (p *proc) readLog(offset int64) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	return string(b)
}

// log returns the whole log.
func (p *proc) log() string { return p.readLog(0) }

// dumpOnFailure registers a cleanup that prints the end of the log when the
// test has failed.
func (p *proc) dumpOnFailure(t testing.TB) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		var offset int64
		if fi, err := os.Stat(p.logPath); err == nil && fi.Size() > logTail {
			offset = fi.Size() - logTail
		}
		t.Logf("testenv: %s log %s (from byte %d):\n%s", p.name, p.logPath, offset, p.readLog(offset))
	})
}

// startRetrying starts the server, retrying while its port is in use: on
// fresh ports (newPorts) for a first start, or on the same ports for a
// restart, where the port may still be held for a moment. args builds the
// command line for the current ports.
func (p *proc) startRetrying(args func() ([]string, error), ready func() readiness, newPorts func() error) error {
	deadline := time.Now().Add(readyTimeout)
	for attempt := 1; ; attempt++ {
		a, err := args()
		if err != nil {
			return err
		}
		err = p.start(a, ready())
		if !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			return err
		}
		if newPorts != nil {
			if attempt >= 10 {
				return err
			}
			if err := newPorts(); err != nil {
				return err
			}
			continue
		}
		time.Sleep(100 * time.Millisecond) // someone else holds our port; nothing to await but time
	}
}
