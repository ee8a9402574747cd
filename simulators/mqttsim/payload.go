package mqttsim

import (
	"encoding/json"
	"fmt"
	"time"
)

// Event types and passage directions of the built-in formats.
const (
	Smoke   = "smoke"
	Fire    = "fire"
	Hotspot = "hotspot"
	In      = "in"
	Out     = "out"
)

// CameraEvent is a fire-detection camera's event, encoded in the built-in format.
// Optional members are pointers or empty strings, and are omitted when unset.
type CameraEvent struct {
	EventID      string    `json:"event_id,omitempty"`
	CameraID     string    `json:"camera_id,omitempty"`
	TS           time.Time `json:"-"`
	Type         string    `json:"type"`
	Confidence   float64   `json:"confidence"`
	BearingDeg   *float64  `json:"bearing_deg,omitempty"`
	DistanceM    *float64  `json:"distance_m,omitempty"`
	TemperatureC *float64  `json:"temperature_c,omitempty"`
	ImageURL     string    `json:"image_url,omitempty"`
}

// Passage is a forest-entry checkpoint's passage record.
type Passage struct {
	EventID      string    `json:"event_id,omitempty"`
	CheckpointID string    `json:"checkpoint_id,omitempty"`
	TS           time.Time `json:"-"`
	Direction    string    `json:"direction"`
	People       *int      `json:"people,omitempty"`
	Vehicles     *int      `json:"vehicles,omitempty"`
	Plate        string    `json:"plate,omitempty"`
	VoicePlayed  *bool     `json:"voice_played,omitempty"`
}

// Timestamp layouts as the format's examples write them: cameras to the
// millisecond, checkpoints to the second (a fraction only when there is one).
const (
	cameraTSLayout  = "2006-01-02T15:04:05.000Z07:00"
	passageTSLayout = "2006-01-02T15:04:05.999Z07:00"
)

// JSON encodes the event. A zero TS is left out (the gateway then stamps
// the arrival time).
func (e CameraEvent) JSON() []byte {
	type alias CameraEvent
	return marshalWithTS(alias(e), e.TS, cameraTSLayout)
}

// JSON encodes the passage; a zero TS is left out.
func (p Passage) JSON() []byte {
	type alias Passage
	return marshalWithTS(alias(p), p.TS, passageTSLayout)
}

func marshalWithTS(v any, ts time.Time, layout string) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("mqttsim: encode %T: %v", v, err)) // only plain values: cannot fail
	}
	if ts.IsZero() {
		return b
	}
	// "ts" goes second, as in the format's examples; the object is never empty.
	out := make([]byte, 0, len(b)+40)
	out = append(out, `{"ts":"`...)
	out = ts.UTC().AppendFormat(out, layout)
	out = append(out, `",`...)
	return append(out, b[1:]...)
}

// CameraTopic is the topic a camera publishes its events on.
func CameraTopic(site, camera string) string { return "site/" + site + "/camera/" + camera + "/event" }

// CheckpointTopic is the topic a checkpoint publishes its passages on.
func CheckpointTopic(site, checkpoint string) string {
	return "site/" + site + "/checkpoint/" + checkpoint + "/passage"
}

// CameraID names camera n (1-based): CAM-01, CAM-02, ...
func CameraID(n int) string { return fmt.Sprintf("CAM-%02d", n) }

// CheckpointID names checkpoint n (1-based): KK-01, KK-02, ...
func CheckpointID(n int) string { return fmt.Sprintf("KK-%02d", n) }

// EventID is the vendor's event id: the device id and a 6-digit sequence.
func EventID(device string, seq int) string { return fmt.Sprintf("%s-%06d", device, seq) }

// Ptr returns a pointer to v, for the optional members.
func Ptr[T any](v T) *T { return &v }
