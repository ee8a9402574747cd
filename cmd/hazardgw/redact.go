package main

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
)

// redactor is a slog.Handler that replaces secret values in the message
// and in every attribute (strings, errors, Stringers, anything printed)
// with "[redacted]" before passing the record on.
type redactor struct {
	next slog.Handler
	r    *strings.Replacer
}

// minRedactLen: shorter values would mangle ordinary words, and are no
// protection worth the name anyway.
const minRedactLen = 4

func newRedactor(next slog.Handler, secrets []string) slog.Handler {
	var s []string
	for _, v := range secrets {
		if len(v) >= minRedactLen {
			s = append(s, v)
		}
	}
	if len(s) == 0 {
		return next
	}
	// Longest first, so that a secret containing another is replaced whole.
	sort.Slice(s, func(i, j int) bool { return len(s[i]) > len(s[j]) })
	pairs := make([]string, 0, 2*len(s))
	for _, v := range s {
		pairs = append(pairs, v, "[redacted]")
	}
	return &redactor{next: next, r: strings.NewReplacer(pairs...)}
}

func (h *redactor) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *redactor) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.r.Replace(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redactor) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = h.attr(a)
	}
	return &redactor{next: h.next.WithAttrs(clean), r: h.r}
}

func (h *redactor) WithGroup(name string) slog.Handler {
	return &redactor{next: h.next.WithGroup(name), r: h.r}
}

func (h *redactor) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.Replace(v.String()))
	case slog.KindGroup:
		g := v.Group()
		clean := make([]slog.Attr, len(g))
		for i, x := range g {
			clean[i] = h.attr(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(clean...)}
	case slog.KindAny:
		var s string
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case fmt.Stringer:
			s = x.String()
		default:
			s = fmt.Sprintf("%+v", x)
		}
		if clean := h.r.Replace(s); clean != s {
			return slog.String(a.Key, clean)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
