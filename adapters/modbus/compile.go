package modbus

import (
	"maps"
	"math"
	"net"
	"slices"
	"strings"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/conf"
)

// Validate reports every problem of the `modbus` section at path: link and
// device naming, endpoints and serial settings, and each register map; and
// warns about what is valid but probably a mistake. It does no I/O. It is
// the compilation New runs, with the result dropped: what Validate accepts
// New can poll, and New refuses nothing Validate accepts.
func (c *Config) Validate(path string, p *conf.Problems) { compile(c, path, p) }

// linkPlan is one link of the section, checked and compiled: what New
// runs. Its devices are planned only if the link has no problem.
type linkPlan struct {
	cfg  LinkConfig // defaults applied
	ep   endpoint
	devs []devicePlan
}

// devicePlan is one device checked and compiled: its points parsed, its
// reads planned and its quality points resolved.
type devicePlan struct {
	cfg    DeviceConfig
	points []pointSpec
	plan   plan
	qp     qualityPlan
}

// compile checks the modbus section at path, reporting every problem (and
// warning) to p, and compiles it. The result is complete only when p has
// no problems (its warnings do not count); it is the one place the
// section's rules are written, for Validate and New alike. Device ids must
// be unique across all links: they are the `device` tag and the key of
// alarms and of the devices API.
func compile(c *Config, path string, p *conf.Problems) []linkPlan {
	links := conf.Seen{}
	devices := conf.Seen{}
	var out []linkPlan
	for i := range c.Links {
		l := &c.Links[i]
		lp := conf.Index(conf.Join(path, "links"), i)
		n := p.Len()
		if conf.CheckID(p, conf.Join(lp, "name"), l.Name) {
			links.Check(p, conf.Join(lp, "name"), "link name", l.Name)
		}
		ep := compileLinkEndpoint(l, lp, p)
		lc := withLinkDefaults(*l)
		var devs []devicePlan
		for j := range l.Devices {
			d := &l.Devices[j]
			dp := conf.Index(conf.Join(lp, "devices"), j)
			if conf.CheckID(p, conf.Join(dp, "id"), d.ID) {
				devices.Check(p, conf.Join(dp, "id"), "device id", d.ID)
			}
			if dev, ok := compileDevice(d, dp, ep.rtu, lc.MaxGap, p); ok {
				devs = append(devs, dev)
			}
		}
		if p.Len() == n {
			out = append(out, linkPlan{cfg: lc, ep: ep, devs: devs})
		}
	}
	return out
}

// compileLinkEndpoint checks url, serial and the link's durations, and
// returns the endpoint (valid only if no problem was added; rtu is set for
// any rtu: URL, so that its devices are checked as a serial bus's).
func compileLinkEndpoint(l *LinkConfig, lp string, p *conf.Problems) endpoint {
	at := func(key string) string { return conf.Join(lp, key) }
	ep, _ := checkEndpoint(l.URL, at("url"), p)
	switch {
	case ep.rtu && l.Serial == nil:
		p.Addf(at("serial"), "required for an rtu link: {baud: 9600, data_bits: 8, parity: E, stop_bits: 1}")
	case !ep.rtu && l.Serial != nil && l.URL != "":
		p.Addf(at("serial"), "only for rtu:// links")
	case l.Serial != nil:
		checkSerial(l.Serial, at("serial"), p)
	}
	if l.Timeout < 0 {
		p.Addf(at("timeout"), "must be positive (omit it for the default 1s)")
	}
	conf.NotNegative(p, at("max_backoff"), l.MaxBackoff)
	if len(l.Devices) == 0 {
		p.Addf(at("devices"), "a link needs at least one device")
	}
	return ep
}

// checkEndpoint checks a link URL, tcp://host[:port] (port 502 by
// default) or rtu:///dev/ttyX, and returns the endpoint it names; ok is
// false, and the problem reported at path, if it names none (ep.rtu still
// says whether it was meant as a serial line).
func checkEndpoint(raw, path string, p *conf.Problems) (ep endpoint, ok bool) {
	n := p.Len()
	switch {
	case raw == "":
		p.Addf(path, "required: tcp://host:port or rtu:///dev/ttyUSB0")
	case strings.HasPrefix(raw, "rtu:"):
		dev, ok := strings.CutPrefix(raw, "rtu://")
		if !ok || !strings.HasPrefix(dev, "/") || len(dev) < 2 {
			p.Addf(path, "an rtu URL names the serial device by its absolute path, e.g. rtu:///dev/ttyUSB0")
		}
		ep = endpoint{rtu: true, addr: dev}
	case strings.HasPrefix(raw, "tcp://"):
		if u := conf.CheckURL(p, path, raw, "tcp"); u != nil && conf.CheckHost(p, path, u, false) {
			if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
				p.Addf(path, "a tcp URL is only tcp://host:port (port default 502)")
			}
			port := u.Port()
			if port == "" {
				port = linkDefaults.TCPPort
			}
			ep = endpoint{addr: net.JoinHostPort(u.Hostname(), port)}
		}
	default:
		p.Addf(path, "want tcp://host:port or rtu:///dev/ttyUSB0")
	}
	return ep, p.Len() == n
}

// standardBauds are the rates serial drivers reliably support.
var standardBauds = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}

// checkSerial checks the serial settings of an rtu link; a zero field is
// its default (9600 8E1).
func checkSerial(s *SerialConfig, sp string, p *conf.Problems) {
	if s.Baud != 0 {
		ok := false
		for _, b := range standardBauds {
			ok = ok || s.Baud == b
		}
		if !ok {
			p.Addf(conf.Join(sp, "baud"), "%d is not a standard rate (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)", s.Baud)
		}
	}
	if s.DataBits != 0 && (s.DataBits < 5 || s.DataBits > 8) {
		p.Addf(conf.Join(sp, "data_bits"), "must be 5..8 (got %d)", s.DataBits)
	}
	if s.Parity != "" {
		conf.OneOf(p, conf.Join(sp, "parity"), strings.ToUpper(s.Parity), "N", "E", "O")
	}
	if s.StopBits != 0 && s.StopBits != 1 && s.StopBits != 2 {
		p.Addf(conf.Join(sp, "stop_bits"), "must be 1 or 2 (got %d)", s.StopBits)
	}
}

// compileDevice checks a device and compiles it; ok is false if it has a
// problem. rtu says whether it is on a serial bus; maxGap is its link's,
// defaulted.
func compileDevice(d *DeviceConfig, dp string, rtu bool, maxGap int, p *conf.Problems) (dev devicePlan, ok bool) {
	n := p.Len()
	at := func(key string) string { return conf.Join(dp, key) }
	if conf.HasControl(d.Label) {
		p.Addf(at("label"), "must not contain control characters")
	}
	switch {
	case rtu && d.UnitID == 0:
		p.Addf(at("unit_id"), "required on a serial bus: 1..247 (0 is broadcast)")
	case rtu && (d.UnitID < 1 || d.UnitID > 247):
		p.Addf(at("unit_id"), "must be 1..247 on a serial bus (got %d)", d.UnitID)
	case !rtu && (d.UnitID < 0 || d.UnitID > 247) && d.UnitID != 255:
		// Modbus TCP: 255 is what devices addressed by IP alone expect;
		// 248..254 are reserved.
		p.Addf(at("unit_id"), "must be 0..247, or 255 for a TCP device addressed by IP alone (got %d)", d.UnitID)
	}
	if conf.CheckName(p, at("kind"), d.Kind) && gateway.IsReservedMeasurement(d.Kind) {
		p.Addf(at("kind"), "%q is a measurement of the gateway itself; choose another kind", d.Kind)
	}
	if d.Interval < 0 {
		p.Addf(at("interval"), "must be positive (omit it for the default 1s)")
	}
	for _, k := range slices.Sorted(maps.Keys(d.Tags)) { // sorted: same order every run
		tp := conf.Join(at("tags"), k)
		switch {
		case !conf.IsName(k):
			p.Addf(tp, "invalid tag key: want a letter followed by letters, digits or _")
		case k == gateway.TagSite || k == gateway.TagDevice:
			p.Addf(tp, "tag %q is set by the gateway and cannot be overridden", k)
		}
		switch v := d.Tags[k]; {
		case v == "":
			p.Addf(tp, "tag value must not be empty")
		case conf.HasControl(v):
			p.Addf(tp, "tag value must not contain control characters")
		}
	}
	if len(d.Points) == 0 {
		p.Addf(at("points"), "a device needs at least one point")
	}
	names := conf.Seen{}
	dev.points = make([]pointSpec, 0, len(d.Points))
	for k := range d.Points {
		pp := conf.Index(at("points"), k)
		pt := &d.Points[k]
		if conf.CheckName(p, conf.Join(pp, "name"), pt.Name) {
			names.Check(p, conf.Join(pp, "name"), "point name", pt.Name)
		}
		spec, _ := compilePoint(pt, pp, p)
		dev.points = append(dev.points, spec)
	}
	dev.qp = compileQuality(d, dp, p)
	if p.Len() > n {
		return devicePlan{}, false
	}
	dev.cfg = *d
	dev.plan = makePlan(dev.points, maxGap)
	return dev, true
}

// pointWidth is the number of 16-bit registers a point takes; 0 for an
// unknown type.
func pointWidth(t dataType, length int) int {
	switch t {
	case typeBool:
		return 1
	case typeString:
		return length
	}
	return t.words()
}

// compilePoint checks a point and returns its spec; ok is false if it has
// a problem. Its name is checked by the device (unique per device).
func compilePoint(pt *PointConfig, pp string, p *conf.Problems) (spec pointSpec, ok bool) {
	n := p.Len()
	at := func(key string) string { return conf.Join(pp, key) }
	area, typ := strings.ToLower(pt.Area), strings.ToLower(pt.Type)
	areaOK := conf.OneOf(p, at("area"), area, "holding", "input", "coil", "discrete")
	typeOK := conf.OneOf(p, at("type"), typ, typeList()...)
	t, _ := parseType(typ) // 0 when unknown
	o, err := parseOrder(pt.Order, t)
	if err != nil {
		p.Addf(at("order"), "must be one of %s%s (got %q)", strings.Join(orderList(t), ", "), forType(t), pt.Order)
	}
	switch {
	case t == typeString && pt.Length == 0:
		p.Addf(at("length"), "required for a string: how many registers (two characters each), 1..%d", maxStringLength)
	case t == typeString && (pt.Length < 1 || pt.Length > maxStringLength):
		p.Addf(at("length"), "must be 1..%d registers (got %d)", maxStringLength, pt.Length)
	case typeOK && t != typeString && pt.Length != 0:
		p.Addf(at("length"), "only for type string (got %s)", typ)
	}
	bitArea := area == "coil" || area == "discrete"
	if areaOK && typeOK {
		switch {
		case bitArea && typ != "bool":
			p.Addf(at("type"), "a %s holds one bit: type must be bool (got %s)", area, typ)
		case bitArea && pt.Bit != nil:
			p.Addf(at("bit"), "only for a bool read out of a holding or input register, not a %s", area)
		case !bitArea && typ == "bool" && pt.Bit == nil:
			p.Addf(at("bit"), "required for a bool read out of a %s register: which bit, 0..15", area)
		case typ != "bool" && pt.Bit != nil:
			p.Addf(at("bit"), "only for type bool (got %s)", typ)
		}
		if bitArea && pt.Order != "" {
			p.Addf(at("order"), "only for register areas, not a %s", area)
		}
	}
	if pt.Bit != nil && (*pt.Bit < 0 || *pt.Bit > 15) {
		p.Addf(at("bit"), "must be 0..15 (got %d)", *pt.Bit)
	}
	switch w := pointWidth(t, pt.Length); {
	case pt.Address < 0 || pt.Address > 0xFFFF:
		p.Addf(at("address"), "must be 0..65535 (got %d)", pt.Address)
	case w > 1 && pt.Address+w-1 > 0xFFFF:
		p.Addf(at("address"), "a %s at %d takes %d registers and runs past 65535", typ, pt.Address, w)
	default:
		warnRegisterNumber(area, pt.Address, at("address"), p)
	}
	if typeOK && !t.numeric() {
		if pt.Scale != nil || pt.Offset != 0 {
			p.Addf(at("scale"), "scale and offset do not apply to %s points", typ)
		}
	} else if pt.Scale != nil {
		if *pt.Scale == 0 {
			p.Addf(at("scale"), "must not be 0 (every reading would be the offset)")
		} else {
			conf.CheckFinite(p, at("scale"), *pt.Scale)
		}
	}
	conf.CheckFinite(p, at("offset"), pt.Offset)
	if pt.Range != nil {
		switch {
		case typ == "bool" || typ == "string":
			p.Addf(at("range"), "applies only to numeric points, not %s", typ)
		case len(pt.Range) != 2:
			p.Addf(at("range"), "want [min, max] (got %d numbers)", len(pt.Range))
		case math.IsNaN(pt.Range[0]) || math.IsInf(pt.Range[0], 0) || math.IsNaN(pt.Range[1]) || math.IsInf(pt.Range[1], 0):
			p.Addf(at("range"), "min and max must be finite numbers")
		case pt.Range[0] >= pt.Range[1]:
			p.Addf(at("range"), "min %v must be below max %v", pt.Range[0], pt.Range[1])
		}
	}
	if conf.HasControl(pt.Unit) {
		p.Addf(at("unit"), "must not contain control characters")
	}
	if p.Len() > n {
		return pointSpec{}, false
	}
	a, _ := parseArea(area)
	spec = pointSpec{name: pt.Name, unit: pt.Unit, area: a, addr: uint16(pt.Address), typ: t, order: o,
		scale: 1, offset: pt.Offset}
	if pt.Scale != nil {
		spec.scale = *pt.Scale
	}
	if pt.Bit != nil {
		spec.bit = uint8(*pt.Bit)
	}
	if t == typeString {
		spec.length = pt.Length
	}
	return spec, true
}

// Modbus data models number registers from 1 with the area as the first
// digit (40001 is the first holding register, 30001 the first input
// register); the protocol, and this configuration, address them from 0.
const (
	holdingRefBase = 40001
	inputRefBase   = 30001
)

// warnRegisterNumber warns about a holding or input address that looks
// like such a register number: valid (the protocol has 65536 addresses),
// but far more often a number copied from a datasheet than a real offset.
func warnRegisterNumber(area string, addr int, path string, p *conf.Problems) {
	var base int
	switch area {
	case "holding":
		base = holdingRefBase
	case "input":
		base = inputRefBase
	default:
		return
	}
	// 4xxxx spans 40001..49999 (and 400001..465536 in the six-digit form,
	// beyond any address): only the five-digit form can be mistaken for an
	// address.
	if addr < base || addr > base+9998 {
		return
	}
	p.Warnf(path, "%d looks like a 1-based register number %dxxxx; Modbus addresses here are 0-based offsets: %d → 0 (did you mean address: %d?)",
		addr, base/10000, base, addr-base)
}

// compileQuality checks that fault_point and maintenance_point name two
// different bool points of the device, and returns what judging its
// readings needs (each point's range is checked with the point).
func compileQuality(d *DeviceConfig, dp string, p *conf.Problems) qualityPlan {
	qp := qualityPlan{faultIx: -1, maintIx: -1, lo: make([]float64, len(d.Points)), hi: make([]float64, len(d.Points))}
	find := func(key, name string) int {
		if name == "" {
			return -1
		}
		for i, pt := range d.Points {
			if pt.Name == name {
				if !strings.EqualFold(pt.Type, "bool") {
					p.Addf(conf.Join(dp, key), "point %q is %s; it must be a bool point of this device", name, pt.Type)
				}
				return i
			}
		}
		p.Addf(conf.Join(dp, key), "no point %q in this device: name one of its bool points", name)
		return -1
	}
	qp.faultIx = find("fault_point", d.FaultPoint)
	qp.maintIx = find("maintenance_point", d.MaintenancePoint)
	if d.FaultPoint != "" && d.FaultPoint == d.MaintenancePoint {
		p.Addf(conf.Join(dp, "maintenance_point"), "must not be the fault point %q", d.FaultPoint)
	}
	for i, pt := range d.Points {
		qp.lo[i], qp.hi[i] = 1, 0 // no range
		if len(pt.Range) == 2 {
			qp.lo[i], qp.hi[i] = pt.Range[0], pt.Range[1]
		}
	}
	return qp
}

// forType is " for t", or "" for an unknown t.
func forType(t dataType) string {
	if t == 0 {
		return ""
	}
	return " for " + t.String()
}
