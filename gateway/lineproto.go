package gateway

import (
	"strconv"
)

// AppendLine appends p encoded as one line of InfluxDB line protocol (no
// trailing newline, nanosecond timestamp) to dst. Tags are written sorted by
// key, which sorts p.Tags in place; empty tag values are omitted (line
// protocol cannot express them). Newlines inside names and values are written
// as spaces so that one point is always exactly one line.
func AppendLine(dst []byte, p *Point) []byte {
	sortTags(p.Tags)
	dst = appendEscaped(dst, p.Measurement, measurementEsc)
	for _, t := range p.Tags {
		if t.Value == "" || t.Key == "" {
			continue
		}
		dst = append(dst, ',')
		dst = appendEscaped(dst, t.Key, keyEsc)
		dst = append(dst, '=')
		dst = appendEscaped(dst, t.Value, keyEsc)
	}
	for i, f := range p.Fields {
		if i == 0 {
			dst = append(dst, ' ')
		} else {
			dst = append(dst, ',')
		}
		dst = appendEscaped(dst, f.Key, keyEsc)
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
			dst = appendEscaped(dst, f.S, stringEsc)
			dst = append(dst, '"')
		}
	}
	dst = append(dst, ' ')
	return strconv.AppendInt(dst, p.Time.UnixNano(), 10)
}

type escKind uint8

const (
	measurementEsc escKind = iota // comma, space
	keyEsc                        // comma, equals, space (tag keys/values, field keys)
	stringEsc                     // double quote, backslash
)

func appendEscaped(dst []byte, s string, k escKind) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\n', '\r':
			if k != stringEsc {
				dst = append(dst, '\\')
			}
			dst = append(dst, ' ')
			continue
		case ',', ' ':
			if k != stringEsc {
				dst = append(dst, '\\')
			}
		case '=':
			if k == keyEsc {
				dst = append(dst, '\\')
			}
		case '"':
			if k == stringEsc {
				dst = append(dst, '\\')
			}
		case '\\':
			if k == stringEsc || (i == len(s)-1) {
				// A trailing backslash would escape the separator after it.
				dst = append(dst, '\\')
			}
		}
		dst = append(dst, c)
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
