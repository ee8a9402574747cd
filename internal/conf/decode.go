package conf

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// Options control Decode and Load.
type Options struct {
	// Lookup finds the value of an environment variable for ${NAME}
	// (os.LookupEnv in production, a map in tests). Nil finds nothing.
	Lookup func(name string) (string, bool)
	// IsSecret reports whether the value at a dotted path is a secret, whose
	// value must never appear in a problem. Nil means IsSecretPath.
	IsSecret func(path string) bool
}

// IsSecretPath reports whether the last key of path names a secret:
// token, password or secret.
func IsSecretPath(path string) bool {
	key := path[strings.LastIndexByte(path, '.')+1:]
	switch key {
	case "token", "password", "secret":
		return true
	}
	return false
}

// Result is what Decode learnt about a document: the problems found while
// decoding, and where each path is in the file.
type Result struct {
	Problems []Problem // decoding problems, each with its line

	syntax  bool            // the YAML did not parse: nothing was decoded
	lines   map[string]int  // dotted path -> line of its key (or item)
	failed  map[string]bool // paths whose value could not be decoded
	secrets []string        // values found at secret paths, scrubbed from messages
}

// Line returns the line of path in the file, or of its nearest parent that
// is in the file (a missing field is reported where its section is), or 0.
func (r *Result) Line(path string) int {
	for {
		if l, ok := r.lines[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		path = parentPath(path)
	}
}

// parentPath strips the last ".key" or "[i]" of path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// Add records problems reported by Validate methods, giving each the line
// of its path. A problem at or under a path that failed to decode is
// dropped: its value was already reported and Validate only saw a zero.
func (r *Result) Add(ps []Problem) {
	for _, p := range ps {
		if r.underFailed(p.Path) {
			continue
		}
		if p.Line == 0 {
			p.Line = r.Line(p.Path)
		}
		r.Problems = append(r.Problems, p)
	}
}

func (r *Result) underFailed(path string) bool {
	for path != "" {
		if r.failed[path] {
			return true
		}
		path = parentPath(path)
	}
	return false
}

// Err returns nil when there are no problems, or an *Error for file with
// every problem, sorted by line, duplicates removed and secret values
// scrubbed.
func (r *Result) Err(file string) error {
	if len(r.Problems) == 0 {
		return nil
	}
	ps := make([]Problem, 0, len(r.Problems))
	seen := make(map[Problem]bool, len(r.Problems))
	for _, p := range r.Problems {
		p.Msg = r.scrub(p.Msg)
		if !seen[p] {
			seen[p] = true
			ps = append(ps, p)
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	return &Error{File: file, Problems: ps}
}

// scrub is a backstop: messages are written not to contain secret values,
// but if one ever does, it is cut out here. Very short values are skipped so
// that ordinary words in messages are not mangled.
func (r *Result) scrub(msg string) string {
	for _, s := range r.secrets {
		if len(s) >= 6 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return msg
}

// Error is an invalid configuration file: every problem found in it.
type Error struct {
	File     string
	Problems []Problem // sorted by line
}

// Error returns one line per problem: FILE:LINE: path.to.field: what is wrong.
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.File)
		if p.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
		if p.Path != "" {
			b.WriteString(p.Path)
			b.WriteString(": ")
		}
		b.WriteString(p.Msg)
	}
	return b.String()
}

// Load decodes src into out (see Decode), then calls validate, which should
// call the Validate methods of out's sections, and returns nil or an *Error
// listing every problem of both steps under the name file. When src is not
// YAML at all, validate is not called: it would only see zero values.
func Load(file string, src []byte, out any, opts Options, validate func(*Problems)) error {
	_, err := LoadWithWarnings(file, src, out, opts, validate)
	return err
}

// LoadWithWarnings is Load that also returns the warnings validate
// reported, one line each, sorted by line: "FILE:LINE: path: warning: what".
func LoadWithWarnings(file string, src []byte, out any, opts Options, validate func(*Problems)) ([]string, error) {
	r := Decode(src, out, opts)
	var warnings []string
	if validate != nil && !r.syntax {
		var p Problems
		validate(&p)
		r.Add(p.List)
		ws := slices.Clone(p.Warnings)
		for i := range ws {
			if ws[i].Line == 0 {
				ws[i].Line = r.Line(ws[i].Path)
			}
		}
		sort.SliceStable(ws, func(i, j int) bool { return ws[i].Line < ws[j].Line })
		for _, w := range ws {
			warnings = append(warnings, fmt.Sprintf("%s:%d: %s: warning: %s", file, w.Line, w.Path, r.scrub(w.Msg)))
		}
	}
	return warnings, r.Err(file)
}

// maxAliasExpansion bounds how many nodes aliases may add to a document, so
// that a few lines of nested aliases (a "billion laughs") cannot exhaust
// memory.
const maxAliasExpansion = 200_000

// Decode parses src, one YAML document, and decodes it into out, which must
// be a non-nil pointer to a struct whose fields carry yaml tags. Decoding
// never stops at the first problem: every unknown key, duplicate key, bad
// value and unset ${VAR} is in the Result, and every value that could be
// decoded is set. An empty document decodes to the zero value.
//
// Supported field types: string, bool, all int, uint and float kinds (range
// checked; floats must be finite), time.Duration (Go syntax: 500ms, 5s, 1m),
// any type whose pointer implements encoding.TextUnmarshaler (decoded from the
// scalar's text), pointers (nil when the key is absent or null: presence),
// slices, maps with string keys, and structs. Every scalar value goes
// through Expand first; an empty result counts as absent for non-string
// types, so `${N:-}` leaves a default in place.
func Decode(src []byte, out any, opts Options) *Result {
	r := &Result{lines: map[string]int{}, failed: map[string]bool{}}
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		r.Problems = append(r.Problems, Problem{Msg: fmt.Sprintf("internal error: decode into %T", out)})
		return r
	}
	root, extra, err := parse(src)
	if err != nil {
		r.Problems = append(r.Problems, syntaxProblem(src, err))
		r.syntax = true
		return r
	}
	if extra > 0 {
		r.Problems = append(r.Problems, Problem{Line: extra, Msg: "only one YAML document is allowed (remove the second ---)"})
	}
	if root == nil {
		r.lines[""] = 1
		return r
	}
	d := &decoder{
		r:        r,
		lookup:   opts.Lookup,
		isSecret: opts.IsSecret,
		budget:   countNodes(root) + maxAliasExpansion,
		merging:  map[*yaml.Node]bool{},
	}
	if d.isSecret == nil {
		d.isSecret = IsSecretPath
	}
	r.lines[""] = root.Line
	if root.Kind != yaml.MappingNode && !isNull(root) {
		d.failf(root, "", "the top level must be a mapping of sections (site:, gateway:, ...), got %s", nodeKind(root))
		return r
	}
	d.value(root, v.Elem(), "")
	return r
}

// parse returns the document's root node (nil when empty) and, when the
// stream holds a second document, the line where it starts.
func parse(src []byte) (root *yaml.Node, extra int, err error) {
	// yaml.v3 has internal panics on a few malformed inputs; a bad file must
	// be an error, never a crash.
	defer func() {
		if p := recover(); p != nil {
			root, extra, err = nil, 0, fmt.Errorf("yaml: %v", p)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, nil
		}
		return nil, 0, err
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		extra = next.Line
		if extra == 0 {
			extra = 1
		}
	} else if !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, extra, nil
		}
		return doc.Content[0], extra, nil
	}
	return &doc, extra, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// syntaxProblem turns the error of parse(src) into a problem on the line
// of the text that caused it.
//
// yaml.v3's line is not that line. For a parser error ("did not find
// expected key", "did not find expected ',' or '}'", ...) it is the 0-based
// line of the construct the parser was in (the mapping or the flow
// collection, which may start many lines earlier), so it points at least
// one line too early; only scanner errors are 1-based; an unknown alias has
// no line at all. The parser is a stream, so the offending line is the
// first L for which the first L lines alone fail with the same error: found
// by bisection, as every shorter prefix either parses or fails differently.
func syntaxProblem(src []byte, err error) Problem {
	text := err.Error()
	m := yamlLineRE.FindStringSubmatch(text)
	if m == nil {
		return Problem{Msg: "invalid YAML: " + text}
	}
	msg := m[2]
	line, _ := strconv.Atoi(m[1]) // 0 when yaml gives none
	switch l := firstFailingLine(src, text); {
	case l > 0:
		line = l
	case parserMessages[msg]:
		line++ // at least not before the construct's line
	}
	p := Problem{Line: line, Msg: "invalid YAML: " + msg}
	if hint := flowVarHint(src, line, msg); hint != "" {
		p.Msg += " (" + hint + ")"
	}
	return p
}

// parserMessages are the errors of yaml.v3's parser (parserc.go), whose
// line is 0-based.
var parserMessages = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
}

// maxBisect bounds the size of a file whose error line is searched for:
// each step parses a prefix, and a configuration is far smaller.
const maxBisect = 1 << 20

// firstFailingLine returns the smallest L such that the first L lines of
// src fail to parse with exactly the error text want, or 0.
func firstFailingLine(src []byte, want string) int {
	if len(src) > maxBisect {
		return 0
	}
	ends := lineEnds(src)
	fails := func(l int) bool {
		_, _, err := parse(src[:ends[l-1]])
		return err != nil && err.Error() == want
	}
	n := len(ends)
	if n == 0 || !fails(n) {
		return 0
	}
	lo, hi := 1, n // fails(hi); the answer is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// lineEnds returns, for each line of src, the offset just past it.
func lineEnds(src []byte) []int {
	var ends []int
	for i, c := range src {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(src) > 0 && src[len(src)-1] != '\n' {
		ends = append(ends, len(src))
	}
	return ends
}

// unquotedVarRE finds ${NAME} or ${NAME:-default} not preceded by a quote.
var unquotedVarRE = regexp.MustCompile(`(^|[^"'$])\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// flowVarHint explains the commonest flow-collection error in a config:
// inside {...} or [...] the braces of an unquoted ${NAME} end the value.
// It names the variable but never shows a default (which may be a secret).
func flowVarHint(src []byte, line int, msg string) string {
	if line <= 0 || (msg != "did not find expected ',' or '}'" && msg != "did not find expected ',' or ']'") {
		return ""
	}
	ends := lineEnds(src)
	if line > len(ends) {
		return ""
	}
	start := 0
	if line > 1 {
		start = ends[line-2]
	}
	m := unquotedVarRE.FindSubmatch(src[start:ends[line-1]])
	if m == nil {
		return ""
	}
	ref := "${" + string(m[2]) + "}"
	if len(m[3]) > 0 {
		ref = "${" + string(m[2]) + ":-…}"
	}
	return fmt.Sprintf(`inside {…} or […] an unquoted ${…} ends at its "{"; quote it: "%s"`, ref)
}

func countNodes(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	c := 1
	for _, k := range n.Content {
		c += countNodes(k)
	}
	return c
}

type decoder struct {
	r        *Result
	lookup   func(string) (string, bool)
	isSecret func(string) bool
	budget   int                 // nodes still allowed to be visited
	merging  map[*yaml.Node]bool // mappings being merged, to stop `<<` cycles
}

func (d *decoder) failf(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.r.Problems = append(d.r.Problems, Problem{Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
	d.r.failed[path] = true
}

// show quotes a value for a message, unless it is a secret.
func (d *decoder) show(path, s string) string {
	if d.isSecret(path) {
		return "(secret value not shown)"
	}
	if len(s) > 64 {
		s = s[:61] + "..."
	}
	return strconv.Quote(s)
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	stringsType         = reflect.TypeFor[Strings]()
)

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "nothing"
		}
		return "a string"
	}
	return "an unsupported YAML node"
}

func wantKind(t reflect.Type) string {
	if t == reflect.TypeFor[ByteSize]() {
		return "a size (e.g. 512MiB, 1GiB)"
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return "a single value"
	}
	if t == durationType {
		return "a duration (e.g. 500ms, 5s, 1m)"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return "a value"
}

// value decodes n into v, whose path is path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	d.budget--
	if d.budget < 0 {
		if d.budget == -1 {
			d.failf(n, path, "document too large: aliases expand to too many values")
		}
		return
	}
	if n = resolve(n); n == nil || n.Kind == yaml.AliasNode {
		d.failf(nil, path, "alias refers to nothing")
		return
	}
	if _, ok := d.r.lines[path]; !ok {
		d.r.lines[path] = n.Line
	}
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		if isNull(n) {
			v.Set(reflect.Zero(t))
			return
		}
		if n.Kind == yaml.ScalarNode && t.Elem().Kind() != reflect.String {
			// A scalar that expands to "" leaves the pointer nil (absent).
			s, ok := d.text(n, path)
			if !ok || s == "" {
				return
			}
		}
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.value(n, v.Elem(), path)
		return
	}

	if reflect.PointerTo(t).Implements(textUnmarshalerType) || t == durationType || isScalarKind(t.Kind()) {
		d.scalar(n, v, path)
		return
	}
	if isNull(n) {
		v.Set(reflect.Zero(t))
		return
	}
	switch t.Kind() {
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && t == stringsType {
			s := reflect.MakeSlice(t, 1, 1)
			d.value(n, s.Index(0), Index(path, 0))
			v.Set(s)
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.failf(n, path, "want a list, got %s", nodeKind(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, s.Index(i), Index(path, i))
		}
		v.Set(s)
	case reflect.Map:
		intKey := t.Key().Kind() == reflect.Int
		if t.Key().Kind() != reflect.String && !intKey {
			d.failf(n, path, "internal error: map key type %s", t.Key())
			return
		}
		if n.Kind != yaml.MappingNode {
			d.failf(n, path, "want a mapping, got %s", nodeKind(n))
			return
		}
		entries := d.entries(n, path)
		m := reflect.MakeMapWithSize(t, len(entries))
		for _, e := range entries {
			p := Join(path, e.key)
			d.r.lines[p] = e.k.Line
			elem := reflect.New(t.Elem()).Elem()
			if intKey { // e.g. a month or a level: {1: 0, 3: 5}
				k, err := strconv.Atoi(e.key)
				if err != nil {
					d.failf(e.k, p, "want a whole number as key, got %q", e.key)
					continue
				}
				d.value(e.v, elem, p)
				m.SetMapIndex(reflect.ValueOf(k), elem)
				continue
			}
			d.value(e.v, elem, p)
			m.SetMapIndex(reflect.ValueOf(e.key).Convert(t.Key()), elem)
		}
		v.Set(m)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.failf(n, path, "want a mapping, got %s", nodeKind(n))
			return
		}
		fs := fieldsOf(t)
		for _, e := range d.entries(n, path) {
			p := Join(path, e.key)
			d.r.lines[p] = e.k.Line
			i, ok := fs.index[e.key]
			if !ok {
				d.failf(e.k, p, "unknown key%s", suggest(e.key, fs.names))
				continue
			}
			d.value(e.v, v.Field(i), p)
		}
	default:
		d.failf(n, path, "internal error: cannot decode into %s", t)
	}
}

func isScalarKind(k reflect.Kind) bool {
	switch k {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// text returns the expanded text of scalar n.
func (d *decoder) text(n *yaml.Node, path string) (string, bool) {
	s, err := Expand(n.Value, d.lookup)
	if err != nil {
		d.failf(n, path, "%v", err)
		return "", false
	}
	if d.isSecret(path) && s != "" {
		d.r.secrets = append(d.r.secrets, s)
	}
	return s, true
}

// scalar decodes a scalar node into v: a string, bool, number, duration or
// TextUnmarshaler.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	if n.Kind != yaml.ScalarNode {
		d.failf(n, path, "want %s, got %s", wantKind(t), nodeKind(n))
		return
	}
	if isNull(n) {
		v.Set(reflect.Zero(t))
		return
	}
	s, ok := d.text(n, path)
	if !ok {
		return
	}
	if t.Kind() == reflect.String && !reflect.PointerTo(t).Implements(textUnmarshalerType) {
		v.SetString(s)
		return
	}
	if strings.TrimSpace(s) == "" {
		v.Set(reflect.Zero(t)) // absent: the default applies
		return
	}
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if err := u.UnmarshalText([]byte(s)); err != nil {
			if d.isSecret(path) {
				d.failf(n, path, "invalid value (secret value not shown)")
			} else {
				d.failf(n, path, "%v", err)
			}
		}
		return
	}
	if t == durationType {
		dur, err := time.ParseDuration(s)
		if err != nil {
			if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
				d.failf(n, path, "invalid duration %s: missing unit (e.g. %ss)", d.show(path, s), s)
			} else {
				d.failf(n, path, "invalid duration %s", d.show(path, s))
			}
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch t.Kind() {
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.failf(n, path, "invalid boolean %s (want true or false)", d.show(path, s))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(s, intBase(s), t.Bits())
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				lo, hi := int64(-1)<<(t.Bits()-1), int64(1)<<(t.Bits()-1)-1
				d.failf(n, path, "%s is out of range (%d..%d)", d.show(path, s), lo, hi)
			} else {
				d.failf(n, path, "invalid integer %s", d.show(path, s))
			}
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(s, intBase(s), t.Bits())
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				d.failf(n, path, "%s is out of range (0..%d)", d.show(path, s), uint64(math.MaxUint64)>>(64-t.Bits()))
			} else {
				d.failf(n, path, "invalid unsigned integer %s", d.show(path, s))
			}
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, t.Bits())
		switch {
		case errors.Is(err, strconv.ErrRange):
			d.failf(n, path, "%s is out of range", d.show(path, s))
		case err != nil:
			d.failf(n, path, "invalid number %s", d.show(path, s))
		case math.IsNaN(f) || math.IsInf(f, 0):
			d.failf(n, path, "must be a finite number")
		default:
			v.SetFloat(f)
		}
	default:
		d.failf(n, path, "internal error: cannot decode into %s", t)
	}
}

// intBase is 0 (prefix decides) for 0x, 0o and 0b literals and 10 otherwise,
// so that 010 is ten, not eight.
func intBase(s string) int {
	s = strings.TrimLeft(s, "+-")
	if len(s) > 2 && s[0] == '0' && strings.ContainsRune("xXoObB", rune(s[1])) {
		return 0
	}
	return 10
}

type entry struct {
	key  string
	k, v *yaml.Node
}

// entries returns the key/value pairs of mapping n in file order, reporting
// non-string and duplicate keys. Merge keys (<<: *anchor) add the anchored
// mappings' entries whose keys are not set explicitly.
func (d *decoder) entries(n *yaml.Node, path string) []entry {
	out := make([]entry, 0, len(n.Content)/2)
	seen := make(map[string]int, len(n.Content)/2)
	var merged []entry
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			d.failf(n.Content[i], path, "keys must be strings")
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(k, v, path)...)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.failf(k, Join(path, k.Value), "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, entry{k.Value, k, v})
	}
	for _, e := range merged {
		if _, ok := seen[e.key]; !ok {
			seen[e.key] = e.k.Line
			out = append(out, e)
		}
	}
	return out
}

// merge returns the entries a `<<` value contributes: one mapping, or a list
// of mappings where earlier ones win.
func (d *decoder) merge(k, v *yaml.Node, path string) []entry {
	v = resolve(v)
	if v == nil {
		return nil
	}
	var maps []*yaml.Node
	switch v.Kind {
	case yaml.MappingNode:
		maps = []*yaml.Node{v}
	case yaml.SequenceNode:
		for _, m := range v.Content {
			m = resolve(m)
			if m == nil || m.Kind != yaml.MappingNode {
				d.failf(k, path, "<< wants a mapping or a list of mappings")
				return nil
			}
			maps = append(maps, m)
		}
	default:
		d.failf(k, path, "<< wants a mapping or a list of mappings")
		return nil
	}
	var out []entry
	seen := map[string]bool{}
	for _, m := range maps {
		if d.merging[m] {
			d.failf(k, path, "<< merges a mapping into itself")
			return nil
		}
		d.merging[m] = true
		for _, e := range d.entries(m, path) {
			if !seen[e.key] {
				seen[e.key] = true
				out = append(out, e)
			}
		}
		delete(d.merging, m)
	}
	return out
}

// fields maps yaml keys of a struct type to field indexes.
type fields struct {
	index map[string]int
	names []string
}

var fieldCache sync.Map // reflect.Type -> *fields

func fieldsOf(t reflect.Type) *fields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*fields)
	}
	f := &fields{index: map[string]int{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		f.index[name] = i
		f.names = append(f.names, name)
	}
	fieldCache.Store(t, f)
	return f
}

// suggest returns ` (did you mean "x"?)` for the known key closest to key.
func suggest(key string, known []string) string {
	bestD := 2 // at most one edit for short keys, two for longer ones
	if len(key) > 4 {
		bestD = 3
	}
	best := ""
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
