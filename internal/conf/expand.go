package conf

import (
	"errors"
	"fmt"
	"strings"
)

// Expand replaces ${NAME} and ${NAME:-default} in s with values from lookup.
//
//   - ${NAME} is the value of NAME; an unset NAME is an error.
//   - ${NAME:-default} is the value of NAME, or default when NAME is unset or
//     empty (as in the shell). The default is literal text up to the first
//     "}" and may be empty.
//   - $$ is a literal $, so $${NAME} is the literal text ${NAME}.
//   - Any other $ is kept as it is.
//
// Errors name the variable but never contain its value, nor the text around
// it, so expanding a secret cannot leak it. A nil lookup finds nothing.
func Expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
			continue
		case '{':
		default:
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", errors.New(`unterminated "${" (write $$ for a literal $)`)
		}
		ref := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !isEnvName(name) {
			return "", errors.New("invalid variable reference: want ${NAME} or ${NAME:-default} with NAME made of letters, digits and _ (write $$ for a literal $)")
		}
		var val string
		var ok bool
		if lookup != nil {
			val, ok = lookup(name)
		}
		switch {
		case hasDef && (!ok || val == ""):
			val = def
		case !ok:
			return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} to make it optional)", name, name)
		}
		b.WriteString(val)
		i += 2 + end + 1
	}
	return b.String(), nil
}

func isEnvName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
