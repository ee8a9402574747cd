package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"strings"

	"github.com/hazardgw/hazardgw/internal/conf"
)

// watchReload handles SIGHUP (delivered on hup) until ctx ends: each one
// re-reads and validates the configuration file. An invalid file is logged
// with every problem and changes nothing; a valid file that configures a
// different gateway is handed to apply (which restarts the gateway on it);
// an unchanged one is logged as such. A SIGHUP never stops the gateway.
// current returns the configuration in force.
func watchReload(ctx context.Context, hup <-chan os.Signal, path string, current func() *File, apply func(*File),
	lookup func(string) (string, bool), logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if next := checkReload(path, current(), lookup, logger); next != nil {
				apply(next)
			}
		}
	}
}

// checkReload is one SIGHUP: it logs every problem of an invalid file and
// returns nil, logs "config unchanged" and returns nil for a file that
// configures the same gateway, or logs the top-level sections that differ
// and returns the new configuration.
func checkReload(path string, running *File, lookup func(string) (string, bool), logger *slog.Logger) *File {
	logger.Info("SIGHUP: checking the configuration file", "config", path)
	next, err := LoadFile(path, lookup)
	if err != nil {
		var ce *conf.Error
		if !errors.As(err, &ce) {
			logger.Error("configuration not reloaded; the running one stays", "config", path, "err", err)
			return nil
		}
		for _, line := range strings.Split(ce.Error(), "\n") {
			logger.Error("configuration invalid; the running one stays", "problem", line)
		}
		logger.Error("configuration not reloaded; the running one stays", "config", path, "problems", len(ce.Problems))
		return nil
	}
	for _, w := range next.Warnings() {
		logger.Warn("configuration", "warning", w)
	}
	changed := changedSections(running, next)
	if len(changed) == 0 {
		logger.Info("config unchanged", "config", path)
		return nil
	}
	logger.Warn("config changed; reloading: the gateway drains and restarts on it (spool, alert state and pending notifications are kept)",
		"config", path, "sections", strings.Join(changed, ","))
	return next
}

// changedSections returns the yaml keys of the top-level sections of File
// that differ between a and b, in file order. Values are compared, never
// printed (sections hold secrets).
func changedSections(a, b *File) []string {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	t := va.Type()
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || key == "" || key == "-" {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, key)
		}
	}
	return out
}
