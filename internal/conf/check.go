package conf

import (
	"errors"
	"math"
	"net"
	"net/url"
	pathpkg "path"
	"strconv"
	"strings"
	"time"
)

// The checks below are shared by the Validate methods so that the same
// mistake gets the same words everywhere. Each reports at path and returns
// whether the value was fine.

// Required reports path when v is empty.
func Required(p *Problems, path, v string) bool {
	if strings.TrimSpace(v) == "" {
		p.Addf(path, "required")
		return false
	}
	return true
}

// OneOf reports path unless v is one of allowed. An empty v passes only if
// "" is among allowed (list it first to say "empty means default").
func OneOf(p *Problems, path, v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	if v == "" {
		p.Addf(path, "required: one of %s", listWords(allowed))
		return false
	}
	p.Addf(path, "must be one of %s (got %q)", listWords(allowed), v)
	return false
}

func listWords(ws []string) string {
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		if w != "" {
			out = append(out, w)
		}
	}
	return strings.Join(out, ", ")
}

// MaxNameLen bounds names and ids.
const MaxNameLen = 64

// IsName reports whether s can be an InfluxDB measurement, field or tag key
// written by the gateway: a letter, then letters, digits and '_'. (InfluxDB
// reserves names starting with '_'.)
func IsName(s string) bool {
	if s == "" || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && (c == '_' || '0' <= c && c <= '9'):
		default:
			return false
		}
	}
	return true
}

// IsID reports whether s can be an identifier that becomes a tag value and
// a URL path segment (site id, device id, rule name, link name): ASCII
// letters, digits, '.', '_' and '-'.
func IsID(s string) bool {
	if s == "" || len(s) > MaxNameLen || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// CheckName reports path unless v is a non-empty IsName.
func CheckName(p *Problems, path, v string) bool {
	if !Required(p, path, v) {
		return false
	}
	if !IsName(v) {
		p.Addf(path, "invalid name %q: want a letter followed by letters, digits or _ (at most %d)", v, MaxNameLen)
		return false
	}
	return true
}

// CheckID reports path unless v is a non-empty IsID.
func CheckID(p *Problems, path, v string) bool {
	if !Required(p, path, v) {
		return false
	}
	if !IsID(v) {
		p.Addf(path, "invalid id %q: use only ASCII letters, digits, '.', '_' and '-' (at most %d)", v, MaxNameLen)
		return false
	}
	return true
}

// NotNegative reports a negative duration (zero means "the default").
func NotNegative(p *Problems, path string, d time.Duration) bool {
	if d < 0 {
		p.Addf(path, "must not be negative (got %s)", d)
		return false
	}
	return true
}

// CheckURL parses raw and reports a missing or malformed URL, a scheme not
// in schemes, a missing host and embedded credentials (which would end up in
// logs; they belong in the token/password fields). It returns the URL when
// it is usable. Messages never repeat the URL itself.
func CheckURL(p *Problems, path, raw string, schemes ...string) *url.URL {
	if !Required(p, path, raw) {
		return nil
	}
	if !strings.Contains(raw, "://") {
		p.Addf(path, "invalid URL: missing the scheme (%s), e.g. %s://host", orList(schemes), schemes[0])
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		p.Addf(path, "invalid URL: %v", err)
		return nil
	}
	ok := false
	for _, s := range schemes {
		ok = ok || u.Scheme == s
	}
	if !ok {
		p.Addf(path, "URL scheme must be %s (got %q)", orList(schemes), u.Scheme)
		return nil
	}
	if u.User != nil {
		p.Addf(path, "URL must not contain credentials; use the token or password setting")
		return nil
	}
	return u
}

// orList joins words as "a, b or c".
func orList(ws []string) string {
	if len(ws) < 2 {
		return strings.Join(ws, "")
	}
	return strings.Join(ws[:len(ws)-1], ", ") + " or " + ws[len(ws)-1]
}

// CheckHost reports a URL without a host, or, when needPort, without a
// port in 1..65535.
func CheckHost(p *Problems, path string, u *url.URL, needPort bool) bool {
	if u.Hostname() == "" {
		p.Addf(path, "URL has no host")
		return false
	}
	port := u.Port()
	if port == "" {
		if needPort {
			p.Addf(path, "URL has no port (want host:port)")
			return false
		}
		return true
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		p.Addf(path, "invalid port %q", port)
		return false
	}
	return true
}

// CheckListen reports an address that is not host:port with a port in
// 0..65535 (0 picks a free port). The host may be empty (all interfaces).
func CheckListen(p *Problems, path, addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.Addf(path, "invalid address %q: want host:port, e.g. 127.0.0.1:8080", addr)
		return false
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.Addf(path, "invalid port %q in %q", port, addr)
		return false
	}
	return true
}

// CheckGlob reports a malformed path.Match pattern.
func CheckGlob(p *Problems, path, pattern string) bool {
	if _, err := pathpkg.Match(pattern, ""); err != nil {
		p.Addf(path, "invalid pattern %q: %v", pattern, err)
		return false
	}
	return true
}

// CheckFinite reports NaN and infinities (the decoder rejects them, but a
// Config may be built in code).
func CheckFinite(p *Problems, path string, f float64) bool {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		p.Addf(path, "must be a finite number")
		return false
	}
	return true
}

// Seen finds duplicates: it maps a name to the path where it was first seen.
type Seen map[string]string

// Check records name at path and reports it when it was seen before. An
// empty name is ignored (Required reports it).
func (s Seen) Check(p *Problems, path, what, name string) bool {
	if name == "" {
		return true
	}
	if first, dup := s[name]; dup {
		p.Addf(path, "duplicate %s %q (first at %s)", what, name, first)
		return false
	}
	s[name] = path
	return true
}

// HasControl reports whether s contains control characters (a newline in a
// tag value would break InfluxDB line protocol).
func HasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}
