package mqtt

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hazardgw/hazardgw/gateway"
)

// A Template is a compiled topic template such as
// site/{site}/camera/{camera}/event: an MQTT filter in which a level written
// {name} matches exactly one level (like +) and yields tag name with that
// level as its value. + and # keep their MQTT meaning and yield no tag.
//
// A Template is immutable and safe for concurrent use.
type Template struct {
	src    string
	filter string
	levels []level
	names  []string // tag names, in level order
}

type levelKind uint8

const (
	levelLiteral levelKind = iota
	levelPlus              // + or {name}
	levelHash              // #, always last
)

type level struct {
	kind levelKind
	lit  string // levelLiteral
	name string // levelPlus from {name}: the tag key; "" for +
}

// ReservedTags are tag names a topic level cannot set: `site` is always the
// configured site id (a {site} level still matches, its value is ignored),
// and `time`, `_field`, `_measurement` are not storable tag names.
var ReservedTags = []string{gateway.TagSite, "time", "_field", "_measurement"}

// CompileTemplate parses a topic template. It rejects what a broker would
// reject as a subscription filter (empty, # not last, wildcards inside a
// level) and malformed or repeated {name} levels.
func CompileTemplate(tmpl string) (*Template, error) {
	if tmpl == "" {
		return nil, errors.New("empty topic template")
	}
	if strings.IndexByte(tmpl, 0) >= 0 {
		return nil, errors.New("topic template contains a NUL character")
	}
	parts := strings.Split(tmpl, "/")
	t := &Template{src: tmpl, levels: make([]level, 0, len(parts))}
	var filter strings.Builder
	for i, p := range parts {
		if i > 0 {
			filter.WriteByte('/')
		}
		switch {
		case p == "#":
			if i != len(parts)-1 {
				return nil, fmt.Errorf("topic template %q: # must be the last level", tmpl)
			}
			t.levels = append(t.levels, level{kind: levelHash})
			filter.WriteByte('#')
		case p == "+":
			t.levels = append(t.levels, level{kind: levelPlus})
			filter.WriteByte('+')
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") && len(p) >= 2:
			name := p[1 : len(p)-1]
			if !validTagName(name) {
				return nil, fmt.Errorf("topic template %q: level %q: a tag name is letters, digits and _, not starting with a digit", tmpl, p)
			}
			if name != gateway.TagSite && isReserved(name) {
				return nil, fmt.Errorf("topic template %q: {%s} is a reserved tag name", tmpl, name)
			}
			for _, n := range t.names {
				if n == name {
					return nil, fmt.Errorf("topic template %q: tag {%s} appears twice", tmpl, name)
				}
			}
			t.names = append(t.names, name)
			t.levels = append(t.levels, level{kind: levelPlus, name: name})
			filter.WriteByte('+')
		case strings.ContainsAny(p, "+#{}"):
			return nil, fmt.Errorf("topic template %q: level %q: +, #, { and } must stand alone in a level", tmpl, p)
		default:
			t.levels = append(t.levels, level{kind: levelLiteral, lit: p})
			filter.WriteString(p)
		}
	}
	t.filter = filter.String()
	return t, nil
}

func validTagName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func isReserved(name string) bool {
	for _, r := range ReservedTags {
		if name == r {
			return true
		}
	}
	return false
}

// String returns the template as written.
func (t *Template) String() string { return t.src }

// Filter returns the MQTT subscription filter: the template with every
// {name} level replaced by +.
func (t *Template) Filter() string { return t.filter }

// Names returns the tag names the template yields, in level order.
func (t *Template) Names() []string { return append([]string(nil), t.names...) }

// Match reports whether topic matches the template under MQTT's rules and
// appends the tags of its {name} levels to dst (reserved names excluded).
// Tag values are substrings of topic. On no match dst is returned
// unchanged. Match does not allocate unless dst must grow.
func (t *Template) Match(topic string, dst []gateway.Tag) ([]gateway.Tag, bool) {
	// A filter starting with a wildcard must not match $SYS-style topics.
	if len(topic) > 0 && topic[0] == '$' && len(t.levels) > 0 && t.levels[0].kind != levelLiteral {
		return dst, false
	}
	n0 := len(dst)
	pos := 0 // start of the next topic level; -1 once every level is used
	for _, l := range t.levels {
		if l.kind == levelHash {
			return dst, true // # also matches the parent level: a/# matches a
		}
		if pos < 0 {
			return dst[:n0], false // the template wants more levels
		}
		var seg string
		if j := strings.IndexByte(topic[pos:], '/'); j < 0 {
			seg, pos = topic[pos:], -1
		} else {
			seg, pos = topic[pos:pos+j], pos+j+1
		}
		switch {
		case l.kind == levelLiteral:
			if seg != l.lit {
				return dst[:n0], false
			}
		case l.name != "" && !isReserved(l.name):
			dst = append(dst, gateway.Tag{Key: l.name, Value: seg})
		}
	}
	if pos >= 0 {
		return dst[:n0], false // the topic has more levels
	}
	return dst, true
}
