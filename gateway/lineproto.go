package gateway

import (
	"strconv"
)

// AppendLine appends p encoded as one line of InfluxDB line protocol (no
// trailing newline, nanosecond timestamp) to dst. Tags are written sorted by
// key, which sorts p.Tags in place; empty tag values are omitted (line
// protocol cannot express them).
//
// Escaping follows InfluxDB 1.8's parser exactly: in the measurement a comma
// and a space are escaped; in tag keys, tag values and field keys also an
// equals sign; in string fields a double quote and a backslash. Any other
// backslash is written as it is, and InfluxDB keeps it.
//
// Some text cannot be represented at all, and is replaced deliberately so
// that one point is always exactly one parseable line (see Altered):
//   - a newline or carriage return in a name or tag value becomes a space
//     (string fields keep them: InfluxDB stores them inside the quotes);
//   - in a name or tag value, a backslash that ends the text or stands before
//     a comma, space, equals sign or double quote becomes a slash: InfluxDB
//     would read it as escaping the separator after it ("CAM-LP4\" would
//     swallow the comma that follows), or drop it;
//   - a measurement starting with '#' (InfluxDB reads the line as a comment),
//     a tab or a NUL byte, and a first field key starting with a tab or a NUL
//     (InfluxDB skips them as white space) get '_' as their first byte.
func AppendLine(dst []byte, p *Point) []byte {
	dst, _ = appendLine(dst, p)
	return dst
}

// Altered reports whether AppendLine has to replace text of p that InfluxDB
// cannot represent (see AppendLine). The pipeline counts such points.
func Altered(p *Point) bool {
	if nameAltered(p.Measurement, true, measurementEsc) {
		return true
	}
	for _, t := range p.Tags {
		if t.Value != "" && t.Key != "" && (nameAltered(t.Key, false, keyEsc) || nameAltered(t.Value, false, keyEsc)) {
			return true
		}
	}
	for i, f := range p.Fields {
		if nameAltered(f.Key, i == 0, keyEsc) {
			return true
		}
	}
	return false
}

// appendLine is AppendLine, also reporting whether text was replaced.
func appendLine(dst []byte, p *Point) ([]byte, bool) {
	sortTags(p.Tags)
	altered := false
	var a bool
	dst, a = appendName(dst, p.Measurement, measurementEsc, true)
	altered = altered || a
	for _, t := range p.Tags {
		if t.Value == "" || t.Key == "" {
			continue
		}
		dst = append(dst, ',')
		dst, a = appendName(dst, t.Key, keyEsc, false)
		altered = altered || a
		dst = append(dst, '=')
		dst, a = appendName(dst, t.Value, keyEsc, false)
		altered = altered || a
	}
	for i, f := range p.Fields {
		if i == 0 {
			dst = append(dst, ' ')
		} else {
			dst = append(dst, ',')
		}
		dst, a = appendName(dst, f.Key, keyEsc, i == 0)
		altered = altered || a
		dst = append(dst, '=')
		switch f.Kind {
		case KindFloat:
			dst = strconv.AppendFloat(dst, f.F, 'f', -1, 64)
		case KindInt:
			dst = strconv.AppendInt(dst, f.I, 10)
			dst = append(dst, 'i')
		case KindBool:
			dst = strconv.AppendBool(dst, f.B)
		default:
			dst = append(dst, '"')
			dst = appendString(dst, f.S)
			dst = append(dst, '"')
		}
	}
	dst = append(dst, ' ')
	return strconv.AppendInt(dst, p.Time.UnixNano(), 10), altered
}

type escKind uint8

const (
	measurementEsc escKind = iota // comma, space
	keyEsc                        // comma, equals, space (tag keys/values, field keys)
)

// appendName escapes a measurement, tag key, tag value or field key; first
// says it starts where InfluxDB skips white space.
func appendName(dst []byte, s string, k escKind, first bool) ([]byte, bool) {
	altered := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 0 && first && badFirst(c, k) {
			c = '_'
			altered = true
		}
		switch c {
		case '\n', '\r':
			c = ' '
			altered = true
		case '\\':
			if i == len(s)-1 || isSep(s[i+1]) {
				c = '/'
				altered = true
			}
		}
		switch c {
		case ',', ' ':
			dst = append(dst, '\\')
		case '=':
			if k == keyEsc {
				dst = append(dst, '\\')
			}
		}
		dst = append(dst, c)
	}
	return dst, altered
}

// isSep reports whether a backslash before c would be read as an escape (or
// dropped) by InfluxDB in a name; a newline counts, as it becomes a space.
func isSep(c byte) bool {
	switch c {
	case ',', ' ', '=', '"', '\n', '\r':
		return true
	}
	return false
}

// badFirst reports whether InfluxDB skips or misreads c at the start of a
// line (a measurement) or of the field set (a first field key).
func badFirst(c byte, k escKind) bool {
	return c == '\t' || c == 0 || (c == '#' && k == measurementEsc)
}

func nameAltered(s string, first bool, k escKind) bool {
	if first && s != "" && badFirst(s[0], k) {
		return true
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n', '\r':
			return true
		case '\\':
			if i == len(s)-1 || isSep(s[i+1]) {
				return true
			}
		}
	}
	return false
}

// appendString escapes the inside of a string field.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return dst
}

// sortTags is an allocation-free insertion sort; points carry a handful of tags.
func sortTags(tags []Tag) {
	for i := 1; i < len(tags); i++ {
		for j := i; j > 0 && tags[j].Key < tags[j-1].Key; j-- {
			tags[j], tags[j-1] = tags[j-1], tags[j]
		}
	}
}
