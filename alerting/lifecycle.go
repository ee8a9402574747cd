package alerting

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// State is where an alert stands in the ISA-18.2 / IEC 62682 alarm
// lifecycle.
type State string

// The lifecycle. An alert starts active and unacknowledged; acknowledging
// and returning to normal may happen in either order, and it ends (normal)
// when both have.
const (
	StateActiveUnacked  State = "active-unacknowledged"
	StateActiveAcked    State = "active-acknowledged"
	StateClearedUnacked State = "cleared-unacknowledged" // returned to normal, not yet acknowledged
	StateNormal         State = "normal"                 // ended: cleared and acknowledged
)

// Open reports whether an alert in state s is still listed as active (its
// condition is active, or it cleared without being acknowledged).
func (s State) Open() bool { return s != StateNormal && s != "" }

// Condition statuses of an alert (Alert.Status, the webhook's data.status).
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Notification types of the duty-desk webhook.
const (
	TypeFiring       = "alert.firing"
	TypeChanged      = "alert.changed"
	TypeResolved     = "alert.resolved"
	TypeReminder     = "alert.reminder"
	TypeAcknowledged = "alert.acknowledged"
	// TypeSuppressed and TypeUnsuppressed say that a device's alarms are
	// suppressed while it is under maintenance, and no longer are.
	TypeSuppressed   = "alert.suppressed"
	TypeUnsuppressed = "alert.unsuppressed"
	// TypeShelved and TypeUnshelved say that a duty officer shelved an
	// occurrence (its notifications are held back until shelved_until) and
	// that its shelving ended; TypeUnshelved carries where it stands now.
	TypeShelved   = "alert.shelved"
	TypeUnshelved = "alert.unshelved"
	// TypeChattering says that a condition fires so often that it is now
	// treated as chattering: no firing or resolved notifications for it
	// until it has stayed in one state for the chatter window.
	TypeChattering = "alert.chattering"
	// TypeLatched says that the condition of a latching rule returned to
	// normal: the alert stays active until a duty officer resets it.
	TypeLatched = "alert.latched"
	// TypeHeartbeat is the periodic status summary of
	// notify[].heartbeat_interval; its data is a Heartbeat, not an alert.
	TypeHeartbeat = "alert.heartbeat"
)

// MaintenanceRule is the rule of the records of a device's maintenance
// (alert.suppressed when it starts, alert.unsuppressed when it ends): a
// built-in rule no configuration can name (rule names cannot hold ':').
const MaintenanceRule = "gateway:maintenance"

// GatewayActor is the `by` of what the gateway itself acknowledges: the
// maintenance records, which call for no action.
const GatewayActor = "hazardgw"

// Alert is one alarm occurrence of a (rule, device, point), as the API
// lists it and as the webhook's `data` carries it.
type Alert struct {
	// ID names this occurrence: every notification about it carries it,
	// and acknowledging it touches nothing else.
	ID string `json:"id"`
	// Key is the stable identity of the condition (rule/device/point),
	// shared by all its occurrences, so that a desk can group them.
	Key       string   `json:"key"`
	Rule      string   `json:"rule"`
	Status    string   `json:"status"` // firing | resolved
	State     State    `json:"state"`
	Level     string   `json:"level"`
	Severity  string   `json:"severity"`
	Site      string   `json:"site"`
	Device    string   `json:"device"`
	Label     string   `json:"label,omitempty"`
	Kind      string   `json:"kind"`
	Point     string   `json:"point"`
	Value     float64  `json:"value"`
	Unit      string   `json:"unit,omitempty"`
	Threshold *float64 `json:"threshold,omitempty"`
	// StartedAt is when the alert first fired; it never changes.
	StartedAt  time.Time  `json:"started_at"`
	ChangedAt  time.Time  `json:"changed_at"` // last transition
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`

	Acknowledged   bool       `json:"acknowledged"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	AcknowledgedBy string     `json:"acknowledged_by,omitempty"`
	Comment        string     `json:"comment,omitempty"`

	// PeakLevel and PeakSeverity are the most severe level this occurrence
	// reached: a resolved alert still shows how bad it got.
	PeakLevel    string `json:"peak_level,omitempty"`
	PeakSeverity string `json:"peak_severity,omitempty"`
	// AckedSeverity is the most severe severity acknowledged in this
	// occurrence: returning to it (after falling back) needs no new
	// acknowledgement, only a severity above it does.
	AckedSeverity string `json:"acked_severity,omitempty"`

	// Shelving (a duty officer holds back the notifications of this
	// occurrence until ShelvedUntil).
	ShelvedAt    *time.Time `json:"shelved_at,omitempty"`
	ShelvedUntil *time.Time `json:"shelved_until,omitempty"`
	ShelvedBy    string     `json:"shelved_by,omitempty"`
	ShelveReason string     `json:"shelve_reason,omitempty"`
	// Latched: the condition of a latching rule returned to normal and the
	// alert stays active until it is reset.
	Latched bool   `json:"latched,omitempty"`
	ResetBy string `json:"reset_by,omitempty"`
	// Chattering: the condition fires too often; its firing and resolved
	// notifications are held back until it settles.
	Chattering bool `json:"chattering,omitempty"`
	// Suppressed: the device is in maintenance or out of service (shown by
	// the API and in notifications; not stored).
	Suppressed bool `json:"suppressed,omitempty"`
	// OutOfService… are set on a device's maintenance record
	// (gateway:maintenance) when a duty officer put it out of service.
	OutOfServiceSince  *time.Time `json:"out_of_service_since,omitempty"`
	OutOfServiceUntil  *time.Time `json:"out_of_service_until,omitempty"`
	OutOfServiceBy     string     `json:"out_of_service_by,omitempty"`
	OutOfServiceReason string     `json:"out_of_service_reason,omitempty"`
	// DecommissionedBy is who decommissioned the device, on an alert
	// ended for that (Reason ReasonDecommissioned).
	DecommissionedBy string `json:"decommissioned_by,omitempty"`
	// Lifecycle is the alarm lifecycle state (active-unacknowledged …)
	// when State shows a management state instead (shelved, suppressed,
	// latched, chattering). Shown by the API and in notifications only.
	Lifecycle State `json:"lifecycle,omitempty"`

	Message string `json:"message"`
	// Reason says why an alert ended other than by its condition:
	// ReasonRuleChanged when its rule was removed or no longer produces
	// its level after a configuration change.
	Reason string `json:"reason,omitempty"`
	// Cause says why a stale alert fired: no_reply, exception or io (failed
	// polls), broker_down, offline (silent), nan or out_of_range (bad values).
	Cause string `json:"cause,omitempty"`
	// Tags are the device's configured tags (area …): receivers route and
	// group on them.
	Tags map[string]string `json:"tags,omitempty"`

	CameraEvent // camera alerts: what the incident's latest event said
}

// ReasonReset is Alert.Reason of a latched alert ended by a duty
// officer's reset.
const ReasonReset = "reset"

// ReasonRuleChanged is Alert.Reason of an alert ended because the
// configuration no longer has a rule that raises it.
const ReasonRuleChanged = "rule_changed"

// ReasonMaintenance is Alert.Reason of an alert from before a device's
// maintenance that was still there after it: it ends, and a new
// occurrence is raised from the readings after maintenance.
const ReasonMaintenance = "maintenance"

// AlertKey is the stable identity of a condition: rule/device/point. Rule
// names and device ids cannot contain '/'.
func AlertKey(rule, device, point string) string { return rule + "/" + device + "/" + point }

// AlertID derives an alert's id from what identifies it: the rule, the
// device, the point and the moment it started (Unix nanoseconds). It is the
// first 20 hex digits of SHA-256 over those four, NUL-separated: stable
// across restarts (it is stored, and could be recomputed), URL-safe, and
// distinct for every occurrence because one key has at most one open alert
// at a time.
func AlertID(rule, device, point string, started time.Time) string {
	h := sha256.New()
	for _, s := range []string{rule, device, point, strconv.FormatInt(started.UnixNano(), 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:20]
}

// outcome is what a condition says at one moment: active at a level (with
// its severity, the value and the limit), or not active.
type outcome struct {
	Active    bool
	Level     string
	Severity  string
	Value     float64
	Threshold *float64
}

// applyOutcome is the lifecycle's reaction to a condition's level in force:
// it returns the alert's next state and the notification it calls for
// ("" for none). prev is the key's alert (nil if it never had one or the
// previous one ended); fresh makes a new alert when one must start.
//
//   - no active alert, active: a new occurrence fires (alert.firing), also
//     when the previous one is still listed as cleared-unacknowledged: that
//     one stays on the desk with its own id until it is acknowledged, so an
//     acknowledgement of yesterday's message never touches today's alarm.
//   - active, active at another level or severity: alert.changed; a
//     severity worse than any acknowledged in this occurrence needs
//     acknowledging again (returning to one already acknowledged does not:
//     an oscillation around a limit asks for one acknowledgement, not one
//     per swing).
//   - active, not active: alert.resolved; acknowledged alerts end (normal),
//     others stay listed as cleared-unacknowledged.
//   - anything else: no change.
func applyOutcome(prev *Alert, out outcome, now time.Time, fresh func() Alert) (next *Alert, typ string) {
	open := prev != nil && prev.State.Open()
	active := open && prev.Status == StatusFiring
	switch {
	case out.Active && !active:
		a := fresh()
		a.Status, a.State = StatusFiring, StateActiveUnacked
		a.Level, a.Severity, a.Value, a.Threshold = out.Level, out.Severity, out.Value, out.Threshold
		a.StartedAt, a.ChangedAt = now, now
		a.PeakLevel, a.PeakSeverity = out.Level, out.Severity
		return &a, TypeFiring
	case out.Active && (out.Level != prev.Level || out.Severity != prev.Severity):
		a := *prev
		escalate(&a, out)
		a.Level, a.Severity, a.Value, a.Threshold = out.Level, out.Severity, out.Value, out.Threshold
		a.ChangedAt = now
		return &a, TypeChanged
	case out.Active:
		return prev, ""
	case active:
		a := *prev
		a.Status, a.Value = StatusResolved, out.Value
		t := now
		a.ResolvedAt, a.ChangedAt = &t, now
		if a.State == StateActiveAcked {
			a.State = StateNormal
		} else {
			a.State = StateClearedUnacked
		}
		return &a, TypeResolved
	}
	return prev, ""
}

// escalate applies what a move to out's severity does to an active
// alert's acknowledgement and peak: a severity above the most severe one
// acknowledged in this occurrence needs a new acknowledgement; the peak
// keeps the most severe level reached.
func escalate(a *Alert, out outcome) {
	r := severityRank(out.Severity)
	if r > severityRank(a.Severity) && a.State == StateActiveAcked && r > severityRank(a.AckedSeverity) {
		a.State, a.Acknowledged, a.AcknowledgedAt, a.AcknowledgedBy, a.Comment = StateActiveUnacked, false, nil, "", ""
	}
	if r > severityRank(a.PeakSeverity) {
		a.PeakLevel, a.PeakSeverity = out.Level, out.Severity
	}
}

// acknowledge applies a duty officer's acknowledgement. It returns the
// next alert and whether anything changed: acknowledging twice, or an
// alert that has ended, changes nothing (the API is idempotent).
func acknowledge(a Alert, by, comment string, now time.Time) (Alert, bool) {
	switch a.State {
	case StateActiveUnacked:
		a.State = StateActiveAcked
	case StateClearedUnacked:
		a.State = StateNormal
	default:
		return a, false
	}
	t := now
	a.Acknowledged, a.AcknowledgedAt, a.AcknowledgedBy, a.Comment = true, &t, by, comment
	if severityRank(a.Severity) > severityRank(a.AckedSeverity) {
		a.AckedSeverity = a.Severity
	}
	a.ChangedAt = now
	return a, true
}

// reminderDue reports whether a receiver with the given repeat interval
// is owed a reminder: the alert is active and unacknowledged, and the last
// firing, change or reminder it was sent is repeat or more ago.
func reminderDue(a *Alert, last time.Time, repeat time.Duration, now time.Time) bool {
	return repeat > 0 && a.State == StateActiveUnacked && !last.IsZero() && now.Sub(last) >= repeat
}
