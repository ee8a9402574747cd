package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Set at build time, as the Makefile does:
//
//	go build -ldflags "-X main.version=1.2.3 -X main.commit=abc1234" ./cmd/hazardgw
//
// A binary built without -X main.commit takes the commit the go command
// recorded (vcs.revision) when it was built from a git checkout.
var (
	version = "dev"
	commit  = "unknown"
)

// buildCommit returns the commit stamped with -ldflags, else the revision
// the go command recorded, shortened, with "-dirty" for a modified tree.
func buildCommit() string {
	if commit != "unknown" && commit != "" {
		return commit
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// versionLine is what `hazardgw version` and `hazardgw --version` print.
func versionLine() string {
	return fmt.Sprintf("hazardgw %s (commit %s, %s, %s/%s)", version, buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// newBuildInfo returns the gauge hazardgw_build_info{version,goversion},
// always 1: the usual way to put a binary's version on a dashboard and to
// alert on a fleet running mixed versions.
func newBuildInfo() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "hazardgw_build_info",
		Help:        "Version of the running hazardgw binary and of the Go toolchain that built it; always 1.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}
