package gateway

import (
	"context"
	"math"
	"time"
)

// A Point is one row of the InfluxDB schema (README, "Where the data goes"): a measurement, its tags,
// its fields and a timestamp. Points are what sources produce, what the spool
// stores (encoded as line protocol) and what alerting observes.
type Point struct {
	Measurement string
	Tags        []Tag // order is free; Encode sorts a copy
	Fields      []Field
	Time        time.Time
}

// Tag is one InfluxDB tag.
type Tag struct{ Key, Value string }

// FieldKind says which member of a Field holds its value.
type FieldKind uint8

// Field kinds, mapping to InfluxDB's float, integer, boolean and string fields.
const (
	KindFloat FieldKind = iota + 1
	KindInt
	KindBool
	KindString
)

// Field is one InfluxDB field. It is a small tagged union rather than an `any`
// so that building a point does not allocate per field.
type Field struct {
	Key  string
	Kind FieldKind
	F    float64
	I    int64
	B    bool
	S    string
}

// Float returns a float field.
func Float(key string, v float64) Field { return Field{Key: key, Kind: KindFloat, F: v} }

// Int returns an integer field.
func Int(key string, v int64) Field { return Field{Key: key, Kind: KindInt, I: v} }

// Bool returns a boolean field.
func Bool(key string, v bool) Field { return Field{Key: key, Kind: KindBool, B: v} }

// String returns a string field.
func String(key string, v string) Field { return Field{Key: key, Kind: KindString, S: v} }

// Tag returns the value of tag key and whether it is present.
func (p *Point) Tag(key string) (string, bool) {
	for _, t := range p.Tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// Field returns the field named key and whether it is present.
func (p *Point) Field(key string) (Field, bool) {
	for _, f := range p.Fields {
		if f.Key == key {
			return f, true
		}
	}
	return Field{}, false
}

// Valid reports whether p can be stored: a measurement, at least one field,
// and no float field that is NaN or infinite (InfluxDB rejects those, and a
// NaN must never pass for a reading).
func (p *Point) Valid() bool {
	if p.Measurement == "" || len(p.Fields) == 0 || p.Time.IsZero() {
		return false
	}
	for _, f := range p.Fields {
		if f.Key == "" {
			return false
		}
		if f.Kind == KindFloat && (math.IsNaN(f.F) || math.IsInf(f.F, 0)) {
			return false
		}
	}
	return true
}

// An Acceptor takes points from a source. Accept returns only after every
// point is durably committed (or with an error, in which case none of them is
// guaranteed to be): a source acknowledges upstream only after Accept returns
// nil. Accept is safe for concurrent use and blocks under back-pressure.
type Acceptor interface {
	Accept(ctx context.Context, points []Point) error
}

// AcceptFunc adapts a function to Acceptor (handy in tests).
type AcceptFunc func(ctx context.Context, points []Point) error

// Accept calls f.
func (f AcceptFunc) Accept(ctx context.Context, points []Point) error { return f(ctx, points) }

// A Source produces points until ctx ends. Run blocks until ctx is done and
// every goroutine it started has returned.
type Source interface {
	Run(ctx context.Context, acc Acceptor) error
}

// A Sink stores encoded points (InfluxDB line protocol, one point per line,
// no trailing newline). Write returns nil only when every line is stored.
// Errors are classified with IsPermanent and RetryAfter; anything else is
// treated as transient and retried. Write is called from one goroutine,
// or from several at once for a forwarder with InFlight > 1.
type Sink interface {
	Write(ctx context.Context, lines [][]byte) error
}
