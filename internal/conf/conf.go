package conf

import (
	"fmt"
	"strconv"
	"strings"
)

// A Problem is one thing wrong with a configuration.
type Problem struct {
	Line int    // line in the file, 1-based; 0 when unknown (Validate leaves it 0)
	Path string // dotted path, e.g. "influxdb.url"; empty for file-level problems
	Msg  string
}

// Problems collects problems, and warnings: things that are valid but
// probably not what was meant. The zero value is ready to use.
type Problems struct {
	List     []Problem
	Warnings []Problem
}

// Addf records a problem at path.
func (p *Problems) Addf(path, format string, args ...any) {
	p.List = append(p.List, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Warnf records a warning at path: the file stays valid.
func (p *Problems) Warnf(path, format string, args ...any) {
	p.Warnings = append(p.Warnings, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Len returns the number of problems.
func (p *Problems) Len() int { return len(p.List) }

// Join builds a child path: Join("a", "b") = "a.b"; Join("", "b") = "b".
func Join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// Index builds an element path: Index("a.list", 2) = "a.list[2]".
func Index(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

// ByteSize is a size in bytes written as 1048576, 512KiB, 64MiB or 1GiB
// (also KB/MB/GB as powers of 1000).
type ByteSize int64

// UnmarshalText parses a size.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || !(n >= 0) || n*float64(mult) > 1<<62 { // !(n >= 0) also rejects NaN
		return fmt.Errorf("invalid size %q (want e.g. 512MiB, 1GiB)", string(text))
	}
	*b = ByteSize(n * float64(mult))
	return nil
}

// Strings is a list of strings that may also be written as one string:
// `severity: red` is `severity: [red]`.
type Strings []string
