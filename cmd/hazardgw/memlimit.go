package main

import (
	"log/slog"
	"runtime/debug"
)

// defaultMemoryLimit is the Go runtime's soft memory limit when the
// environment sets none: a safety net for a small edge box, far above what
// the gateway needs in normal running (a few tens of MB; up to about a
// hundred while it drains a large broker backlog), so that it costs
// nothing until a burst approaches it, when the collector works harder
// instead of the process growing. GOMEMLIMIT in the environment (for example in the systemd
// unit's EnvironmentFile) replaces it; GOMEMLIMIT=off removes it.
const defaultMemoryLimit = 256 << 20

// applyMemoryLimit sets defaultMemoryLimit unless GOMEMLIMIT is set, and
// logs the limit in force.
func applyMemoryLimit(lookup func(string) (string, bool), logger *slog.Logger) {
	if v, ok := lookup("GOMEMLIMIT"); ok && v != "" {
		// The runtime has read it at start.
		logger.Debug("memory limit from the environment", "GOMEMLIMIT", v)
		return
	}
	debug.SetMemoryLimit(defaultMemoryLimit)
	logger.Debug("memory limit", "bytes", defaultMemoryLimit)
}
