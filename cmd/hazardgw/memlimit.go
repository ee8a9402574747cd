package main

import (
	"log/slog"
	"runtime/debug"
)

// defaultMemoryLimit is the Go runtime's soft memory limit when the
// environment sets none: a safety net for a small edge box, far above what
// the gateway needs (about 20 MB of heap, also while it drains a large
// broker backlog: the broker's messages wait in the broker until the
// workers have room), so that it costs nothing until something approaches
// it, when the collector works harder instead of the process growing.
// GOMEMLIMIT in the environment (for example in the systemd unit's
// EnvironmentFile) replaces it; GOMEMLIMIT=off removes it.
const defaultMemoryLimit = 256 << 20

// defaultGCPercent is the collector's target when GOGC is not set: the
// heap may grow 75% over what was live after the last collection, rather
// than the runtime's 100%. The gateway allocates at a steady rate (every
// message decoded, encoded, written), and on an edge box the few MB this
// keeps out of the resident size matter more than the slightly more
// frequent collections cost (measured draining a backlog: about 3 MB less
// peak RSS for well under 1 µs more CPU per message).
const defaultGCPercent = 75

// applyMemoryLimit sets defaultMemoryLimit unless GOMEMLIMIT is set and
// defaultGCPercent unless GOGC is set, and logs what is in force.
func applyMemoryLimit(lookup func(string) (string, bool), logger *slog.Logger) {
	if v, ok := lookup("GOGC"); !ok || v == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if v, ok := lookup("GOMEMLIMIT"); ok && v != "" {
		// The runtime has read it at start.
		logger.Debug("memory limit from the environment", "GOMEMLIMIT", v)
		return
	}
	debug.SetMemoryLimit(defaultMemoryLimit)
	logger.Debug("memory limit", "bytes", defaultMemoryLimit)
}
