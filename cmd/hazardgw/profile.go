package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
)

// Profiling a running gateway, for measuring it on a real workload: with
// HAZARDGW_CPUPROFILE=FILE the process records a CPU profile from start to
// exit into FILE (HAZARDGW_CPUPROFILE_HZ sets the sampling rate, default
// 100 per second: a lightly loaded gateway needs more to show anything);
// with HAZARDGW_MEMPROFILE=FILE it writes a heap profile (allocations since
// start, live heap at exit) into FILE when it exits. Read them with `go tool
// pprof`. Both are off unless set. They are environment variables, not
// configuration keys, because they do not belong in a site's file.
const (
	envCPUProfile   = "HAZARDGW_CPUPROFILE"
	envCPUProfileHz = "HAZARDGW_CPUPROFILE_HZ"
	envMemProfile   = "HAZARDGW_MEMPROFILE"
)

// startProfiles starts what the environment asks for and returns the
// function that finishes the profiles. It never fails the run: it logs.
func startProfiles(lookup func(string) (string, bool), logger *slog.Logger) (stop func()) {
	var stops []func()
	if path, ok := lookup(envCPUProfile); ok && path != "" {
		hz := 0
		if v, ok := lookup(envCPUProfileHz); ok {
			hz, _ = strconv.Atoi(v)
		}
		stop, err := startCPUProfile(path, hz)
		if err != nil {
			logger.Warn("cpu profile not recorded", "err", err)
		} else {
			logger.Info("recording a cpu profile", "file", path)
			stops = append(stops, func() {
				if err := stop(); err != nil {
					logger.Warn("cpu profile incomplete", "err", err)
				}
			})
		}
	}
	if path, ok := lookup(envMemProfile); ok && path != "" {
		logger.Info("a heap profile will be written at exit", "file", path)
		stops = append(stops, func() {
			if err := writeHeapProfile(path); err != nil {
				logger.Warn("heap profile not written", "err", err)
			}
		})
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}

// startCPUProfile records a CPU profile into path at hz samples per second
// (the runtime's default if hz <= 0) until stop.
func startCPUProfile(path string, hz int) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if hz > 0 {
		// Before StartCPUProfile, whose own rate is then refused (with a
		// line on stderr).
		runtime.SetCPUProfileRate(hz)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		runtime.SetCPUProfileRate(0)
		f.Close()
		return nil, fmt.Errorf("start cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("close %s: %w", path, err)
		}
		return nil
	}, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	runtime.GC() // the live heap as of now
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("write heap profile: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}
