package modbus

import (
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/conf"
)

// Validate reports every problem of the `modbus` section at path: link and
// device naming, endpoints and serial settings, and each register map. It
// does no I/O. Device ids must be unique across all links (they are the
// `device` tag and the key of alarms and of the devices API).
func (c *Config) Validate(path string, p *conf.Problems) {
	links := conf.Seen{}
	devices := conf.Seen{}
	for i := range c.Links {
		l := &c.Links[i]
		lp := conf.Index(conf.Join(path, "links"), i)
		if conf.CheckID(p, conf.Join(lp, "name"), l.Name) {
			links.Check(p, conf.Join(lp, "name"), "link name", l.Name)
		}
		rtu := validateLinkEndpoint(l, lp, p)
		for j := range l.Devices {
			d := &l.Devices[j]
			dp := conf.Index(conf.Join(lp, "devices"), j)
			if conf.CheckID(p, conf.Join(dp, "id"), d.ID) {
				devices.Check(p, conf.Join(dp, "id"), "device id", d.ID)
			}
			validateDevice(d, dp, rtu, p)
		}
	}
}

// validateLinkEndpoint checks url, serial and the link's durations, and
// reports whether the link is a serial (RTU) bus.
func validateLinkEndpoint(l *LinkConfig, lp string, p *conf.Problems) (rtu bool) {
	at := func(key string) string { return conf.Join(lp, key) }
	switch {
	case l.URL == "":
		p.Addf(at("url"), "required: tcp://host:port or rtu:///dev/ttyUSB0")
	case strings.HasPrefix(l.URL, "rtu:"):
		rtu = true
		dev, ok := strings.CutPrefix(l.URL, "rtu://")
		if !ok || !strings.HasPrefix(dev, "/") || len(dev) < 2 {
			p.Addf(at("url"), "an rtu URL names the serial device by its absolute path, e.g. rtu:///dev/ttyUSB0")
		}
	case strings.HasPrefix(l.URL, "tcp://"):
		if u := conf.CheckURL(p, at("url"), l.URL, "tcp"); u != nil && conf.CheckHost(p, at("url"), u, false) {
			if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
				p.Addf(at("url"), "a tcp URL is only tcp://host:port (port default 502)")
			}
		}
	default:
		p.Addf(at("url"), "want tcp://host:port or rtu:///dev/ttyUSB0")
	}
	switch {
	case rtu && l.Serial == nil:
		p.Addf(at("serial"), "required for an rtu link: {baud: 9600, data_bits: 8, parity: E, stop_bits: 1}")
	case !rtu && l.Serial != nil && l.URL != "":
		p.Addf(at("serial"), "only for rtu:// links")
	case l.Serial != nil:
		validateSerial(l.Serial, at("serial"), p)
	}
	if l.Timeout < 0 {
		p.Addf(at("timeout"), "must be positive (omit it for the default 1s)")
	}
	conf.NotNegative(p, at("max_backoff"), l.MaxBackoff)
	if len(l.Devices) == 0 {
		p.Addf(at("devices"), "a link needs at least one device")
	}
	return rtu
}

// standardBauds are the rates serial drivers reliably support.
var standardBauds = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}

func validateSerial(s *SerialConfig, sp string, p *conf.Problems) {
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

func validateDevice(d *DeviceConfig, dp string, rtu bool, p *conf.Problems) {
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
		// Modbus TCP: 255 is what devices addressed by IP alone expect.
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
	for k := range d.Points {
		pp := conf.Index(at("points"), k)
		pt := &d.Points[k]
		if conf.CheckName(p, conf.Join(pp, "name"), pt.Name) {
			names.Check(p, conf.Join(pp, "name"), "point name", pt.Name)
		}
		validatePoint(pt, pp, p)
	}
	validateQualityPoints(d, dp, p)
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

func validatePoint(pt *PointConfig, pp string, p *conf.Problems) {
	at := func(key string) string { return conf.Join(pp, key) }
	area, typ := strings.ToLower(pt.Area), strings.ToLower(pt.Type)
	areaOK := conf.OneOf(p, at("area"), area, "holding", "input", "coil", "discrete")
	typeOK := conf.OneOf(p, at("type"), typ, typeList()...)
	t, _ := parseType(typ) // 0 when unknown
	if pt.Order != "" {
		if _, err := parseOrder(pt.Order, t); err != nil {
			p.Addf(at("order"), "must be one of %s%s (got %q)", strings.Join(orderList(t), ", "), forType(t), pt.Order)
		}
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
}

// validateQualityPoints checks that fault_point and maintenance_point name
// two different bool points of the device.
func validateQualityPoints(d *DeviceConfig, dp string, p *conf.Problems) {
	check := func(key, name string) {
		if name == "" {
			return
		}
		for _, pt := range d.Points {
			if pt.Name == name {
				if !strings.EqualFold(pt.Type, "bool") {
					p.Addf(conf.Join(dp, key), "point %q is %s; it must be a bool point of this device", name, pt.Type)
				}
				return
			}
		}
		p.Addf(conf.Join(dp, key), "no point %q in this device: name one of its bool points", name)
	}
	check("fault_point", d.FaultPoint)
	check("maintenance_point", d.MaintenancePoint)
	if d.FaultPoint != "" && d.FaultPoint == d.MaintenancePoint {
		p.Addf(conf.Join(dp, "maintenance_point"), "must not be the fault point %q", d.FaultPoint)
	}
}

// forType is " for t", or "" for an unknown t.
func forType(t dataType) string {
	if t == 0 {
		return ""
	}
	return " for " + t.String()
}
