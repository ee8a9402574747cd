package mqtt

import (
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// scanner reads one JSON document in place, without building a tree, so
// that a decoder can pick the members it knows and skip (while still
// validating) the rest. encoding/json with a fixed struct costs 4–6× more
// time and a dozen allocations per camera event (see BenchmarkDecodeCamera
// and BenchmarkDecodeCameraStdlib); this costs none beyond the strings a
// point keeps.
//
// Every method returns false on failure and leaves the reason in s.err; the
// first failure wins and later calls keep failing.
type scanner struct {
	b   []byte
	i   int
	err reason
	buf []byte // unescaped string contents, reused
}

// maxDepth bounds nesting in skipped values; deeper documents are rejected
// rather than walked (they are garbage, not camera events).
const maxDepth = 64

func (s *scanner) reset(b []byte) {
	s.b, s.i, s.err = b, 0, ""
}

func (s *scanner) fail(r reason) bool {
	if s.err == "" {
		s.err = r
	}
	return false
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// end checks that nothing but white space follows the document.
func (s *scanner) end() bool {
	s.ws()
	if s.i != len(s.b) {
		return s.fail(reasonInvalidJSON)
	}
	return s.err == ""
}

// beginObject consumes '{'. Anything else that is valid JSON is wrong_type.
func (s *scanner) beginObject() bool {
	switch c := s.peek(); c {
	case '{':
		s.i++
		return true
	case '[', '"', 't', 'f', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if !s.skip() {
			return false
		}
		return s.fail(reasonWrongType)
	default:
		return s.fail(reasonInvalidJSON)
	}
}

// key returns the next member's key (valid until the next string is read)
// and positions the scanner at its value. n is the member's index in the
// object. It returns false after the closing brace, or on error (s.err).
func (s *scanner) key(n int) ([]byte, bool) {
	c := s.peek()
	if c == '}' {
		s.i++
		return nil, false
	}
	if n > 0 {
		if c != ',' {
			return nil, s.fail(reasonInvalidJSON)
		}
		s.i++
		c = s.peek()
	}
	if c != '"' {
		return nil, s.fail(reasonInvalidJSON)
	}
	k, ok := s.str()
	if !ok {
		return nil, false
	}
	if s.peek() != ':' {
		return nil, s.fail(reasonInvalidJSON)
	}
	s.i++
	s.ws()
	return k, true
}

// elem positions the scanner at the next array element; n is its index.
// It returns false after the closing bracket, or on error.
func (s *scanner) elem(n int) bool {
	c := s.peek()
	if c == ']' {
		s.i++
		return false
	}
	if n > 0 {
		if c != ',' {
			return s.fail(reasonInvalidJSON)
		}
		s.i++
		s.ws()
	}
	return true
}

// null consumes a null literal if one is next.
func (s *scanner) null() bool {
	if s.peek() == 'n' {
		if len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
			s.i += 4
			return true
		}
	}
	return false
}

// typeMismatch validates and skips the value that is not of the wanted
// type, so that a syntax error further on still reads as invalid_json, then
// fails with wrong_type.
func (s *scanner) typeMismatch() bool {
	if !s.skip() {
		return false
	}
	return s.fail(reasonWrongType)
}

// str reads a string value and returns its unescaped contents: a view of the
// input when it has no escapes, else of s.buf. Either is valid until the next
// call. Raw bytes are not checked for UTF-8 here: decoders check the whole
// payload once, which is cheaper.
func (s *scanner) str() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, s.typeMismatch()
	}
	s.i++
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, true
		case c == '\\':
			return s.strEscaped(start)
		case c < 0x20:
			return nil, s.fail(reasonInvalidJSON)
		}
		s.i++
	}
	return nil, s.fail(reasonInvalidJSON)
}

func (s *scanner) strEscaped(start int) ([]byte, bool) {
	s.buf = append(s.buf[:0], s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.buf, true
		case c < 0x20:
			return nil, s.fail(reasonInvalidJSON)
		case c != '\\':
			s.buf = append(s.buf, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return nil, s.fail(reasonInvalidJSON)
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			s.buf = append(s.buf, e)
		case 'b':
			s.buf = append(s.buf, '\b')
		case 'f':
			s.buf = append(s.buf, '\f')
		case 'n':
			s.buf = append(s.buf, '\n')
		case 'r':
			s.buf = append(s.buf, '\r')
		case 't':
			s.buf = append(s.buf, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, false
			}
			if utf16.IsSurrogate(r) {
				// A surrogate must be the first half of a pair written as
				// two escapes; a lone one is not text.
				if len(s.b)-s.i < 6 || s.b[s.i] != '\\' || s.b[s.i+1] != 'u' {
					return nil, s.fail(reasonInvalidUTF8)
				}
				s.i += 2
				r2, ok := s.hex4()
				if !ok {
					return nil, false
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return nil, s.fail(reasonInvalidUTF8)
				}
			}
			s.buf = utf8.AppendRune(s.buf, r)
		default:
			return nil, s.fail(reasonInvalidJSON)
		}
	}
	return nil, s.fail(reasonInvalidJSON)
}

func (s *scanner) hex4() (rune, bool) {
	if len(s.b)-s.i < 4 {
		return 0, s.fail(reasonInvalidJSON)
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, s.fail(reasonInvalidJSON)
		}
		r = r<<4 | rune(c)
	}
	s.i += 4
	return r, true
}

// numLit reads the literal of a JSON number and reports whether it has a
// fraction or an exponent. NaN and (-)Infinity, which some encoders emit,
// are recognised so that they read as out_of_range rather than as a syntax
// error: the sender meant a number, and it is not a usable one.
func (s *scanner) numLit() (lit []byte, integral bool, ok bool) {
	start := s.i
	b := s.b
	i := s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		rest := b[i:]
		if hasPrefix(rest, "NaN") || hasPrefix(rest, "Infinity") {
			return nil, false, s.fail(reasonOutOfRange)
		}
		if i < len(b) && (b[i] == '"' || b[i] == '{' || b[i] == '[' || b[i] == 't' || b[i] == 'f') && i == start {
			return nil, false, s.typeMismatch()
		}
		return nil, false, s.fail(reasonInvalidJSON)
	}
	integral = true
	if i < len(b) && b[i] == '.' {
		integral = false
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false, s.fail(reasonInvalidJSON)
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integral = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false, s.fail(reasonInvalidJSON)
		}
	}
	s.i = i
	return b[start:i], integral, true
}

// float reads a number. Values beyond float64's range are out_of_range.
func (s *scanner) float() (float64, bool) {
	lit, _, ok := s.numLit()
	if !ok {
		return 0, false
	}
	return s.parseFloat(lit)
}

func (s *scanner) parseFloat(lit []byte) (float64, bool) {
	f, err := strconv.ParseFloat(bstr(lit), 64)
	if err != nil && (math.IsInf(f, 0) || math.IsNaN(f)) {
		return 0, s.fail(reasonOutOfRange)
	}
	// Underflow rounds to zero (or a denormal) without harm.
	return f, true
}

// int reads an integer. A fraction or an exponent is wrong_type (a count of
// 1.5 people is not a count), overflow is out_of_range.
func (s *scanner) int() (int64, bool) {
	lit, integral, ok := s.numLit()
	if !ok {
		return 0, false
	}
	if !integral {
		return 0, s.fail(reasonWrongType)
	}
	n, err := strconv.ParseInt(bstr(lit), 10, 64)
	if err != nil {
		return 0, s.fail(reasonOutOfRange)
	}
	return n, true
}

// bool reads true or false.
func (s *scanner) bool() (bool, bool) {
	rest := s.b[s.i:]
	switch {
	case hasPrefix(rest, "true"):
		s.i += 4
		return true, true
	case hasPrefix(rest, "false"):
		s.i += 5
		return false, true
	case len(rest) > 0 && (rest[0] == 't' || rest[0] == 'f'):
		return false, s.fail(reasonInvalidJSON)
	}
	return false, s.typeMismatch()
}

// skip validates and skips one value of any type, iteratively so that
// hostile nesting cannot exhaust the stack.
func (s *scanner) skip() bool {
	var isObj [maxDepth]bool
	depth := 0
	for {
		// A value is expected here.
		switch c := s.peek(); c {
		case '{', '[':
			if depth == maxDepth {
				return s.fail(reasonInvalidJSON)
			}
			s.i++
			closer := byte(']')
			if c == '{' {
				closer = '}'
			}
			if s.peek() == closer {
				s.i++
				break // an empty container is a complete value
			}
			isObj[depth] = c == '{'
			depth++
			if c == '{' && !s.memberKey() {
				return false
			}
			continue
		case '"':
			if _, ok := s.str(); !ok {
				return false
			}
		case 't':
			if !s.literal("true") {
				return false
			}
		case 'f':
			if !s.literal("false") {
				return false
			}
		case 'n':
			if !s.literal("null") {
				return false
			}
		default:
			if _, _, ok := s.numLit(); !ok {
				return false
			}
		}
		// A value ended: close containers until one continues.
		for {
			if depth == 0 {
				return true
			}
			c := s.peek()
			obj := isObj[depth-1]
			if c == ',' {
				s.i++
				if obj && !s.memberKey() {
					return false
				}
				break
			}
			if (obj && c == '}') || (!obj && c == ']') {
				s.i++
				depth--
				continue
			}
			return s.fail(reasonInvalidJSON)
		}
	}
}

func (s *scanner) literal(lit string) bool {
	if !hasPrefix(s.b[s.i:], lit) {
		return s.fail(reasonInvalidJSON)
	}
	s.i += len(lit)
	return true
}

// memberKey reads `"key":` inside a skipped object.
func (s *scanner) memberKey() bool {
	if s.peek() != '"' {
		return s.fail(reasonInvalidJSON)
	}
	if _, ok := s.str(); !ok {
		return false
	}
	if s.peek() != ':' {
		return s.fail(reasonInvalidJSON)
	}
	s.i++
	return true
}

func hasPrefix(b []byte, p string) bool {
	return len(b) >= len(p) && string(b[:len(p)]) == p
}

// bstr views b as a string without copying; only for immediate use by
// functions that don't retain their argument (strconv, map lookups).
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
