package main

import (
	"context"
	"errors"
	"log/slog"
)

// runGateway runs the gateway described by cfg until ctx ends, then drains
// and returns. Owned by the wiring work; a stub until it lands.
func runGateway(ctx context.Context, cfg *File, logger *slog.Logger) error {
	_ = ctx
	_ = cfg
	_ = logger
	return errors.New("run: not wired yet")
}
