package mqtt

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
)

// mappingDecoder decodes format `json`: a vendor's payload mapped to a point
// by dotted paths (JSONMapping). The paths are compiled into a tree that is
// walked along with the document, so a payload is read once whatever the
// number of paths, and members no path names are skipped.
type mappingDecoder struct {
	measurement string
	root        pathNode
	timeFmt     string // rfc3339, unix, unix_ms, unix_us, unix_ns, or a Go layout
	hasTime     bool
	hasDevice   bool
	tags        []string // config tag names, sorted; slot slotTags+i
	fields      []string // field names, sorted; slot slotTags+len(tags)+i
	kinds       []gateway.FieldKind
	slots       int
}

// Slots: where each extracted value goes.
const (
	slotTime   = 0
	slotDevice = 1
	slotTags   = 2
)

type pathNode struct {
	key      string
	idx      int // key as an array index, -1 if not one
	children []*pathNode
	slots    []int
}

// value is one extracted scalar.
type value struct {
	kind     byte // 0 absent, 's' string, 'n' number, 'b' bool, 'c' object or array
	b        bool
	integral bool
	off, end int // string contents or number literal, in env.vbuf
}

const tagDeviceKey = gateway.TagDevice

func compileMapping(m *JSONMapping) (*mappingDecoder, error) {
	if m == nil {
		return nil, errors.New("format json needs a json mapping")
	}
	if m.Measurement == "" {
		return nil, errors.New("json mapping: measurement is required")
	}
	if len(m.Fields) == 0 {
		return nil, errors.New("json mapping: at least one field is required")
	}
	d := &mappingDecoder{measurement: m.Measurement, root: pathNode{idx: -1}}
	d.timeFmt = strings.ToLower(m.TimeFormat)
	switch d.timeFmt {
	case "", "rfc3339":
		d.timeFmt = "rfc3339"
	case "unix", "unix_ms", "unix_us", "unix_ns":
	default:
		d.timeFmt = m.TimeFormat // a Go layout, case matters
	}
	add := func(what, path string, slot int) error {
		if path == "" {
			return fmt.Errorf("json mapping: %s: empty path", what)
		}
		n := &d.root
		for _, k := range strings.Split(path, ".") {
			if k == "" {
				return fmt.Errorf("json mapping: %s: path %q has an empty element", what, path)
			}
			var child *pathNode
			for _, c := range n.children {
				if c.key == k {
					child = c
				}
			}
			if child == nil {
				child = &pathNode{key: k, idx: -1}
				if i, err := strconv.Atoi(k); err == nil && i >= 0 && strconv.Itoa(i) == k {
					child.idx = i
				}
				n.children = append(n.children, child)
			}
			n = child
		}
		n.slots = append(n.slots, slot)
		return nil
	}
	if m.Time != "" {
		d.hasTime = true
		if err := add("time", m.Time, slotTime); err != nil {
			return nil, err
		}
	}
	if m.Device != "" {
		d.hasDevice = true
		if err := add("device", m.Device, slotDevice); err != nil {
			return nil, err
		}
	}
	for name := range m.Tags {
		d.tags = append(d.tags, name)
	}
	slices.Sort(d.tags)
	for i, name := range d.tags {
		if !validTagName(name) || isReserved(name) || name == tagDeviceKey {
			return nil, fmt.Errorf("json mapping: tag %q: not a usable tag name", name)
		}
		if err := add("tag "+name, m.Tags[name], slotTags+i); err != nil {
			return nil, err
		}
	}
	for name := range m.Fields {
		d.fields = append(d.fields, name)
	}
	slices.Sort(d.fields)
	for i, name := range d.fields {
		f := m.Fields[name]
		if name == "" || name == "time" || strings.ContainsAny(name, "\n\r") {
			return nil, fmt.Errorf("json mapping: field %q: not a usable field name", name)
		}
		var k gateway.FieldKind
		switch f.Type {
		case "", "float":
			k = gateway.KindFloat
		case "int":
			k = gateway.KindInt
		case "bool":
			k = gateway.KindBool
		case "string":
			k = gateway.KindString
		default:
			return nil, fmt.Errorf("json mapping: field %q: unknown type %q (want float, int, bool or string)", name, f.Type)
		}
		d.kinds = append(d.kinds, k)
		if err := add("field "+name, f.Path, slotTags+len(d.tags)+i); err != nil {
			return nil, err
		}
	}
	d.slots = slotTags + len(d.tags) + len(d.fields)
	return d, nil
}

func (d *mappingDecoder) kind() string { return d.measurement }

func (d *mappingDecoder) decode(e *env, payload []byte, out *decoded) reject {
	if r := precheck(payload); !r.ok() {
		return r
	}
	s := &e.sc
	s.reset(payload)
	if cap(e.vals) < d.slots {
		e.vals = make([]value, d.slots)
	}
	vals := e.vals[:d.slots]
	clear(vals)
	e.vbuf = e.vbuf[:0]
	if s.peek() != '{' {
		s.beginObject()
		return reject{reason: s.err}
	}
	if !d.walk(e, &d.root, vals) || !s.end() {
		return reject{reason: s.err}
	}

	ts := e.now
	if v := vals[slotTime]; d.hasTime && v.kind != 0 {
		t, r := d.parseTime(e, v)
		if r != "" {
			return reject{reason: r, field: "time"}
		}
		if plausible(t, e.now) {
			ts = t
		} else {
			out.arrival, out.badClock = true, t
		}
	} else {
		out.arrival = true
	}

	tags := append(out.point.Tags[:0], gateway.Tag{Key: gateway.TagSite, Value: e.site})
	device := ""
	if v := vals[slotDevice]; v.kind != 0 {
		if v.kind != 's' && v.kind != 'n' {
			return reject{reason: reasonWrongType, field: "device"}
		}
		b := e.vbuf[v.off:v.end]
		if !validID(b) {
			return reject{reason: reasonOutOfRange, field: "device"}
		}
		device = e.ids.get(b)
	} else if device = topicTag(e.topicTags, tagDeviceKey); device == "" && d.hasDevice {
		return reject{reason: reasonMissingField, field: "device"}
	}
	if device != "" {
		tags = append(tags, gateway.Tag{Key: tagDeviceKey, Value: device})
	}
	for i, name := range d.tags {
		v := vals[slotTags+i]
		var tv string
		switch v.kind {
		case 0:
			continue
		case 's', 'n':
			tv = string(e.vbuf[v.off:v.end])
		case 'b':
			tv = strconv.FormatBool(v.b)
		default:
			return reject{reason: reasonWrongType, field: name}
		}
		if tv != "" {
			tags = append(tags, gateway.Tag{Key: name, Value: tv})
		}
	}
	tags = addTopicTags(tags, e.topicTags)

	fields := out.point.Fields[:0]
	base := slotTags + len(d.tags)
	for i, name := range d.fields {
		v := vals[base+i]
		if v.kind == 0 {
			continue
		}
		f, r := d.field(e, name, d.kinds[i], v)
		if r != "" {
			return reject{reason: r, field: name}
		}
		fields = append(fields, f)
	}
	if len(fields) == 0 {
		return reject{reason: reasonMissingField, field: d.fields[0]}
	}
	out.point = gateway.Point{Measurement: d.measurement, Tags: tags, Fields: fields, Time: ts}
	out.device = device
	return reject{}
}

// walk reads the value at the scanner's position, which is at node n.
func (d *mappingDecoder) walk(e *env, n *pathNode, vals []value) bool {
	s := &e.sc
	c := s.peek()
	if len(n.slots) > 0 {
		var v value
		switch c {
		case '"':
			b, ok := s.str()
			if !ok {
				return false
			}
			v = value{kind: 's', off: len(e.vbuf)}
			e.vbuf = append(e.vbuf, b...)
			v.end = len(e.vbuf)
		case 't', 'f':
			b, ok := s.bool()
			if !ok {
				return false
			}
			v = value{kind: 'b', b: b}
		case 'n':
			if !s.null() {
				return s.fail(reasonInvalidJSON)
			}
			return true // null is absent
		case '{', '[':
			v = value{kind: 'c'}
		default:
			lit, integral, ok := s.numLit()
			if !ok {
				return false
			}
			v = value{kind: 'n', integral: integral, off: len(e.vbuf)}
			e.vbuf = append(e.vbuf, lit...)
			v.end = len(e.vbuf)
		}
		for _, sl := range n.slots {
			vals[sl] = v
		}
		if v.kind != 'c' {
			return true
		}
	}
	if len(n.children) == 0 {
		return s.skip()
	}
	switch c {
	case '{':
		s.i++
		for i := 0; ; i++ {
			k, more := s.key(i)
			if !more {
				return s.err == ""
			}
			var child *pathNode
			for _, ch := range n.children {
				if ch.key == bstr(k) {
					child = ch
					break
				}
			}
			if child == nil {
				if !s.skip() {
					return false
				}
			} else if !d.walk(e, child, vals) {
				return false
			}
		}
	case '[':
		s.i++
		for i := 0; s.elem(i); i++ {
			var child *pathNode
			for _, ch := range n.children {
				if ch.idx == i {
					child = ch
					break
				}
			}
			if child == nil {
				if !s.skip() {
					return false
				}
			} else if !d.walk(e, child, vals) {
				return false
			}
		}
		return s.err == ""
	default:
		// A scalar where the mapping expects an object: what is below it
		// is absent.
		return s.skip()
	}
}

func (d *mappingDecoder) parseTime(e *env, v value) (time.Time, reason) {
	lit := e.vbuf[v.off:v.end]
	switch d.timeFmt {
	case "unix", "unix_ms", "unix_us", "unix_ns":
		if v.kind != 'n' && v.kind != 's' {
			return time.Time{}, reasonWrongType
		}
		unit := 1.0 // nanoseconds per unit
		switch d.timeFmt {
		case "unix":
			unit = 1e9
		case "unix_ms":
			unit = 1e6
		case "unix_us":
			unit = 1e3
		}
		if n, err := strconv.ParseInt(bstr(lit), 10, 64); err == nil {
			if ns := float64(n) * unit; math.Abs(ns) < 9e18 {
				return time.Unix(0, n*int64(unit)), ""
			}
			return time.Time{}, reasonBadTimestamp
		}
		f, err := strconv.ParseFloat(bstr(lit), 64)
		if err != nil || math.IsNaN(f) || math.Abs(f*unit) >= 9e18 {
			return time.Time{}, reasonBadTimestamp
		}
		return time.Unix(0, int64(f*unit)), ""
	default:
		if v.kind != 's' {
			return time.Time{}, reasonWrongType
		}
		layout := d.timeFmt
		if layout == "rfc3339" {
			layout = time.RFC3339Nano
		}
		t, err := time.Parse(layout, bstr(lit))
		if err != nil {
			return time.Time{}, reasonBadTimestamp
		}
		return t, ""
	}
}

func (d *mappingDecoder) field(e *env, name string, k gateway.FieldKind, v value) (gateway.Field, reason) {
	lit := e.vbuf[v.off:v.end]
	switch k {
	case gateway.KindFloat:
		if v.kind != 'n' {
			return gateway.Field{}, reasonWrongType
		}
		f, ok := e.sc.parseFloat(lit)
		if !ok {
			return gateway.Field{}, reasonOutOfRange
		}
		return gateway.Float(name, f), ""
	case gateway.KindInt:
		if v.kind != 'n' {
			return gateway.Field{}, reasonWrongType
		}
		if !v.integral {
			// 2.0 is an integer written by a float encoder; 2.5 is not.
			f, err := strconv.ParseFloat(bstr(lit), 64)
			if err != nil || f != math.Trunc(f) {
				return gateway.Field{}, reasonWrongType
			}
			if f < -(1<<63) || f >= 1<<63 {
				return gateway.Field{}, reasonOutOfRange
			}
			return gateway.Int(name, int64(f)), ""
		}
		n, err := strconv.ParseInt(bstr(lit), 10, 64)
		if err != nil {
			return gateway.Field{}, reasonOutOfRange
		}
		return gateway.Int(name, n), ""
	case gateway.KindBool:
		if v.kind != 'b' {
			return gateway.Field{}, reasonWrongType
		}
		return gateway.Bool(name, v.b), ""
	default:
		if v.kind != 's' {
			return gateway.Field{}, reasonWrongType
		}
		return gateway.String(name, string(lit)), ""
	}
}
