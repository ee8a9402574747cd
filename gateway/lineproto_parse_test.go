package gateway

import (
	"errors"
	"strconv"
	"strings"
)

// parsedLine is a line as InfluxDB 1.8 reads it: names unescaped, field
// values as typed text ("1.5", "3i", "true", or the unquoted string).
type parsedLine struct {
	measurement string
	tags        []Tag
	fields      []Tag // key, value
	ts          int64
}

// parseLine reads one line the way InfluxDB 1.8's parser (models/points.go)
// does, independently of the encoder: in the measurement and the tag set a
// separator counts as escaped when the byte before it is a backslash; in the
// field set a backslash escapes the byte after it; unescaping removes the
// backslash only before the characters each part escapes.
func parseLine(line string) (parsedLine, error) {
	var out parsedLine
	line = strings.TrimLeft(line, " \t\x00") // InfluxDB skips leading white space
	if line == "" || line[0] == ',' || line[0] == ' ' || line[0] == '#' {
		return out, errors.New("missing measurement")
	}
	if strings.ContainsAny(line, "\n\r") {
		// Newlines are only allowed inside a quoted string field (checked below).
		if i := strings.IndexAny(line, "\n\r"); i < strings.IndexByte(line, '"') || strings.IndexByte(line, '"') < 0 {
			return out, errors.New("newline outside a string")
		}
	}
	// Measurement.
	i := 1
	for ; i < len(line); i++ {
		if line[i-1] == '\\' {
			continue
		}
		if line[i] == ',' || line[i] == ' ' {
			break
		}
	}
	if i >= len(line) {
		return out, errors.New("missing fields")
	}
	out.measurement = unescape(line[:i], ", ")
	// Tags.
	for line[i] == ',' {
		i++
		start := i
		for ; i < len(line) && !(line[i] == '=' && line[i-1] != '\\'); i++ {
			if (line[i] == ',' || line[i] == ' ') && line[i-1] != '\\' {
				return out, errors.New("invalid tag format")
			}
		}
		if i >= len(line) || i == start {
			return out, errors.New("missing tag key")
		}
		key := line[start:i]
		i++
		start = i
		for ; i < len(line) && !((line[i] == ',' || line[i] == ' ') && line[i-1] != '\\'); i++ {
			if line[i] == '=' && line[i-1] != '\\' {
				return out, errors.New("invalid tag format")
			}
		}
		if i >= len(line) || i == start {
			return out, errors.New("missing tag value")
		}
		out.tags = append(out.tags, Tag{unescape(key, ", ="), unescape(line[start:i], ", =")})
	}
	// Fields.
	i++ // the space
	for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == 0) {
		i++ // skipped as white space
	}
	for {
		start := i
		for ; i < len(line) && line[i] != '='; i++ {
			if line[i] == '\\' {
				i++
				continue
			}
			if line[i] == ',' || line[i] == ' ' {
				return out, errors.New("invalid field format")
			}
		}
		if i >= len(line) || i == start {
			return out, errors.New("missing field key")
		}
		key := unescape(line[start:i], ",\" =")
		i++
		var val string
		if i < len(line) && line[i] == '"' {
			var b strings.Builder
			for i++; ; i++ {
				if i >= len(line) {
					return out, errors.New("unbalanced quotes")
				}
				if line[i] == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\') {
					i++
				} else if line[i] == '"' {
					i++
					break
				}
				b.WriteByte(line[i])
			}
			val = b.String()
		} else {
			start = i
			for i < len(line) && line[i] != ',' && line[i] != ' ' {
				i++
			}
			val = line[start:i]
			if !validScalar(val) {
				return out, errors.New("invalid number or boolean")
			}
		}
		out.fields = append(out.fields, Tag{key, val})
		if i >= len(line) {
			return out, errors.New("missing timestamp")
		}
		if line[i] == ' ' {
			break
		}
		i++ // comma
	}
	ts, err := strconv.ParseInt(line[i+1:], 10, 64)
	if err != nil {
		return out, errors.New("bad timestamp")
	}
	out.ts = ts
	return out, nil
}

func validScalar(v string) bool {
	switch v {
	case "t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE":
		return true
	}
	if strings.HasSuffix(v, "i") {
		_, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
		return err == nil
	}
	_, err := strconv.ParseFloat(v, 64)
	return err == nil
}

// unescape removes a backslash before each of chars, as InfluxDB does.
func unescape(s, chars string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(chars, s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// representable is the text InfluxDB stores for s as a name or tag value
// after AppendLine's deliberate replacements; first is as for appendName.
func representable(s string, first bool, k escKind) string {
	b := []byte(s)
	for i := range b {
		switch {
		case i == 0 && first && badFirst(b[i], k):
			b[i] = '_'
		case b[i] == '\n' || b[i] == '\r':
			b[i] = ' '
		case b[i] == '\\' && (i == len(b)-1 || isSep(b[i+1])):
			b[i] = '/'
		}
	}
	return string(b)
}
