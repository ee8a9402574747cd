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
// re-reads and validates the configuration file and logs what it found.
// Nothing is applied: the running configuration stays until a restart. A
// SIGHUP therefore never stops the gateway, and an operator who edits the
// file learns at once whether the next start will work and what it will
// change.
func watchReload(ctx context.Context, hup <-chan os.Signal, path string, running *File, lookup func(string) (string, bool), logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			checkReload(path, running, lookup, logger)
		}
	}
}

// checkReload is one SIGHUP: it logs every problem of an invalid file,
// "config unchanged" for a file that configures the same gateway, or, at
// Warn, the top-level sections that differ and that a restart applies them.
func checkReload(path string, running *File, lookup func(string) (string, bool), logger *slog.Logger) {
	logger.Info("SIGHUP: checking the configuration file", "config", path)
	next, err := LoadFile(path, lookup)
	if err != nil {
		var ce *conf.Error
		if !errors.As(err, &ce) {
			logger.Error("configuration not reloaded; the running one stays", "config", path, "err", err)
			return
		}
		for _, line := range strings.Split(ce.Error(), "\n") {
			logger.Error("configuration invalid; the running one stays", "problem", line)
		}
		logger.Error("configuration not reloaded; the running one stays", "config", path, "problems", len(ce.Problems))
		return
	}
	for _, w := range next.Warnings() {
		logger.Warn("configuration", "warning", w)
	}
	changed := changedSections(running, next)
	if len(changed) == 0 {
		logger.Info("config unchanged", "config", path)
		return
	}
	logger.Warn("config changed; restart hazardgw to apply it (live reload is not supported: the running configuration stays)",
		"config", path, "sections", strings.Join(changed, ","))
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
