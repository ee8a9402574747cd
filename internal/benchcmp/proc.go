package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// A proc is one measured program: a child process with its output in a log
// file.
type proc struct {
	name  string
	cmd   *exec.Cmd
	log   *os.File
	start time.Time
	done  chan struct{} // closed when the process has exited
	err   error         // of Wait, once done is closed
}

// usage is what a process cost, from the rusage of its exit.
type usage struct {
	CPU    time.Duration // user + system
	MaxRSS int64         // bytes
}

// startProc starts bin with args; its stdout and stderr go to logPath, or
// stdout to out when out is not nil.
func startProc(name, logPath string, out io.Writer, bin string, args ...string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if out != nil {
		cmd.Stdout = out
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{name: name, cmd: cmd, log: f, done: make(chan struct{})}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to timeout (then kills), and returns the
// process's usage.
func (p *proc) stop(timeout time.Duration) (usage, error) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(timeout):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	return p.usage(), nil
}

// wait waits for the process to end by itself.
func (p *proc) wait(timeout time.Duration) (usage, error) {
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return p.usage(), fmt.Errorf("%s did not exit within %s", p.name, timeout)
	}
	if p.err != nil {
		return p.usage(), fmt.Errorf("%s: %w (log: %s)", p.name, p.err, p.log.Name())
	}
	return p.usage(), nil
}

func (p *proc) usage() usage {
	ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return usage{}
	}
	return usage{
		CPU:    time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		MaxRSS: ru.Maxrss << 10, // kB on Linux
	}
}
