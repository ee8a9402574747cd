package modbus

import "time"

// Config is the `modbus` section.
type Config struct {
	Links []LinkConfig `yaml:"links"`
}

// LinkConfig is one TCP endpoint or one serial bus. Requests on a link are serialised.
type LinkConfig struct {
	Name    string        `yaml:"name"`    // required, unique
	URL     string        `yaml:"url"`     // tcp://host:port or rtu:///dev/ttyUSB0
	Serial  *SerialConfig `yaml:"serial"`  // required for rtu://
	Timeout time.Duration `yaml:"timeout"` // per request, default 1s
	// MaxGap is the largest run of unused registers (or bits) bridged to
	// merge two reads into one request. Zero means the default, 16; a
	// negative value bridges no gaps.
	MaxGap int `yaml:"max_gap"`
	// Backoff caps the reconnect delay after connection errors. Default 30s.
	MaxBackoff time.Duration  `yaml:"max_backoff"`
	Devices    []DeviceConfig `yaml:"devices"`
}

// SerialConfig is the serial line of an RTU link.
type SerialConfig struct {
	Baud     int    `yaml:"baud"`      // default 9600
	DataBits int    `yaml:"data_bits"` // default 8
	Parity   string `yaml:"parity"`    // N | E (default) | O
	StopBits int    `yaml:"stop_bits"` // default 1
}

// DeviceConfig is one Modbus unit.
type DeviceConfig struct {
	ID       string            `yaml:"id"`    // required, unique across the config
	Label    string            `yaml:"label"` // shown to duty officers
	UnitID   int               `yaml:"unit_id"`
	Kind     string            `yaml:"kind"`     // measurement name
	Interval time.Duration     `yaml:"interval"` // default 1s
	Tags     map[string]string `yaml:"tags"`
	Points   []PointConfig     `yaml:"points"`
	// FaultPoint names a bool point of this device that is true while the
	// device reports a fault: its other readings are then bad (not stored,
	// judging no alarm, holding the alarms they raised).
	FaultPoint string `yaml:"fault_point"`
	// MaintenancePoint names a bool point of this device that is true
	// while it is under maintenance (e.g. a calibration switch): its other
	// readings are then uncertain (stored, judging no alarm) and its alarms
	// are suppressed.
	MaintenancePoint string `yaml:"maintenance_point"`
}

// PointConfig is one value read from a device.
type PointConfig struct {
	Name    string   `yaml:"name"`    // field name
	Area    string   `yaml:"area"`    // holding | input | coil | discrete
	Address int      `yaml:"address"` // zero-based
	Type    string   `yaml:"type"`    // int16 uint16 int32 uint32 int64 uint64 float32 float64 bool
	Order   string   `yaml:"order"`   // ABCD (default) | CDAB | BADC | DCBA
	Scale   *float64 `yaml:"scale"`   // default 1
	Offset  float64  `yaml:"offset"`
	Unit    string   `yaml:"unit"`
	Bit     *int     `yaml:"bit"`    // for bool out of a register, 0..15
	Length  int      `yaml:"length"` // string: registers, two characters each
	Label   string   `yaml:"label"`  // the point's name in alarm messages, e.g. 甲烷
	// Range is [min, max] in engineering units (after scale and offset):
	// a reading outside it is bad (out_of_range), never stored.
	Range []float64 `yaml:"range"`
}
