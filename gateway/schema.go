package gateway

import "slices"

// The schema of what the gateway writes to InfluxDB: measurement, tag and
// field names shared by the sources, the alert engine and the checks. A
// device's own measurement is its kind (Modbus) or its format's (MQTT);
// the measurements below are the gateway's and no device may use them.

// Tags every point carries.
const (
	TagSite   = "site"
	TagDevice = "device"
)

// Measurements the gateway writes itself.
const (
	// MeasurementDeviceStatus is every device's liveness and reading
	// quality: fields online, rtt_ms, error, quality, reason, bad_points,
	// fault, maintenance.
	MeasurementDeviceStatus = "device_status"
	// MeasurementAlert is the alert transitions: fields status, value,
	// threshold, id, by, comment, reason.
	MeasurementAlert = "alert"
	// MeasurementGateway is the gateway's own health series (written like a
	// device's, so that it is stored, shown and alarmed on like any other);
	// it is also the kind of device GatewayDevice.
	MeasurementGateway = "hazardgw"
	// MeasurementFireDanger is the forest fire danger rating computed from
	// a weather station: tags site and TagStation; fields FieldDangerIndex,
	// FieldDangerLevel and the factor scores FieldDangerA, B, C, E
	// (integers). Alert rules match it as the kind of the station's rating.
	MeasurementFireDanger = "fire_danger"
)

// Tag and fields of fire_danger points.
const (
	TagStation       = "station" // the weather station's device id
	FieldDangerIndex = "index"   // A + B + C + E − phenology
	FieldDangerLevel = "level"   // 1 (低) … 5 (极高)
	FieldDangerA     = "a"       // the day's highest temperature score
	FieldDangerB     = "b"       // the day's lowest humidity score
	FieldDangerC     = "c"       // the dry days score
	FieldDangerE     = "e"       // the day's highest wind score
)

// GatewayDevice is the device tag of the gateway's own health series and of
// its alarms about itself.
const GatewayDevice = "gateway"

// ReservedMeasurements are the measurements of the gateway itself: a
// device kind or a json mapping naming one would mix its series into them.
var ReservedMeasurements = []string{MeasurementDeviceStatus, MeasurementAlert, MeasurementGateway, MeasurementFireDanger}

// IsReservedMeasurement reports whether name is one of ReservedMeasurements.
func IsReservedMeasurement(name string) bool { return slices.Contains(ReservedMeasurements, name) }

// Fields of device_status that carry quality.
const (
	FieldQuality     = "quality"     // string: good | uncertain | bad
	FieldReason      = "reason"      // string: "" when good
	FieldBadPoints   = "bad_points"  // string: "ch4=nan o2=out_of_range", points with bad values
	FieldFault       = "fault"       // bool: the device reports a fault
	FieldMaintenance = "maintenance" // bool: the device is under maintenance
)

// Fields of camera events (measurement fire_detection, tag type) that
// alarms read: the event's confidence, the bearing from true north and the
// distance at which the camera sees it, its snapshot and its id.
const (
	FieldConfidence = "confidence"  // float, 0..1
	FieldBearing    = "bearing_deg" // float, degrees from true north, [0, 360)
	FieldDistance   = "distance_m"  // float, metres
	FieldImageURL   = "image_url"   // string
	FieldEventID    = "event_id"    // string
)

// Fields of the gateway's health series that built-in alarms watch.
const (
	// FieldSpoolDropped counts the points the spool lost since the previous
	// report: dropped because it was full, or lost to a failed commit (a
	// full or failing disk; FieldSpoolLost).
	FieldSpoolDropped = "spool_dropped"
	// FieldSpoolLost counts the points lost to failed commits since the
	// previous report: polled points and unstored health reports.
	FieldSpoolLost = "spool_lost"
	// FieldSinkStalled is how long (seconds) points have been waiting in
	// the spool with nothing written to the sink; 0 while writes succeed
	// or nothing waits.
	FieldSinkStalled = "influxdb_unwritten_s"
	// FieldMQTTDown is how long (seconds) the MQTT broker connection has
	// been down; 0 while connected. Only reported when MQTT is used.
	FieldMQTTDown = "mqtt_down_s"
	// FieldStorageDamaged counts the data files found damaged and moved
	// aside at start.
	FieldStorageDamaged = "storage_damaged"
	// FieldUntrackedDevices counts MQTT devices not watched for liveness
	// because the learnt-device limit was reached (written by the MQTT source).
	FieldUntrackedDevices = "mqtt_untracked_devices"
)
